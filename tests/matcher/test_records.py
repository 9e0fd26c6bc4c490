"""Value types check their invariants on construction; filters decide what may be returned."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from matcher.errors import InvalidInputError
from matcher.records import MAX_FILTER_VALUES, MAX_LINEAGE, GalleryRecord, SearchFilters
from tests.matcher.support import NOW, filters, provenance


def test_provenance_times_are_normalised_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    captured = datetime(2025, 1, 1, 12, 0, tzinfo=plus_two)
    record = provenance(captured_at=captured)
    assert record.captured_at.utcoffset() == timedelta(0)
    assert record.captured_at == captured
    assert record.captured_at.hour == 10


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"origin_jurisdiction": ""}, "provenance.origin_jurisdiction"),
        ({"origin_jurisdiction": "../etc"}, "provenance.origin_jurisdiction"),
        ({"origin_jurisdiction": "US/OR"}, "provenance.origin_jurisdiction"),
        ({"origin_jurisdiction": "-US"}, "provenance.origin_jurisdiction"),
        ({"origin_jurisdiction": "X" * 65}, "provenance.origin_jurisdiction"),
        ({"source_agency": ""}, "provenance.source_agency"),
        ({"source_agency": "a\nb"}, "provenance.source_agency"),
        ({"lineage": ("ok", "")}, "provenance.lineage[1]"),
        ({"lineage": "us-fbi"}, "provenance.lineage"),
        ({"lineage": ("a",) * (MAX_LINEAGE + 1)}, "provenance.lineage"),
        ({"consent_scopes": ("x" * 129,)}, "provenance.consent_scopes[0]"),
        ({"captured_at": datetime(2025, 1, 1)}, "provenance.captured_at"),
        ({"captured_at": None}, "provenance.captured_at"),
        ({"retain_until": "2030-01-01T00:00:00Z"}, "provenance.retain_until"),
        ({"retain_until": NOW - timedelta(days=400)}, "provenance.retain_until"),
        ({"consent_withdrawn_at": datetime(2025, 1, 1)}, "provenance.consent_withdrawn_at"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_bad_provenance_is_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        provenance(**overrides)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("record_id", "ok"),
    [
        ("a", True),
        ("us-fbi:p000:face:0", True),
        ("A.b_c-9:Z", True),
        ("x" * 128, True),
        ("", False),
        ("x" * 129, False),
        ("has space", False),
        ("slash/no", False),
        ("ünïcode", False),
    ],
)
def test_record_ids(record_id: str, ok: bool) -> None:
    def make() -> GalleryRecord:
        return GalleryRecord(record_id, "fingerprint", np.ones(192), provenance())

    if ok:
        assert make().record_id == record_id
    else:
        with pytest.raises(InvalidInputError) as caught:
            make()
        assert caught.value.field == "record_id"


def test_record_template_is_validated_under_its_own_name() -> None:
    with pytest.raises(
        InvalidInputError, match="expected 192 values for fingerprint, got 512"
    ) as e:
        GalleryRecord("r1", "fingerprint", np.ones(512), provenance())
    assert e.value.field == "template"


def test_records_compare_by_value_including_the_template() -> None:
    one = GalleryRecord("r1", "fingerprint", np.ones(192), provenance())
    assert one == GalleryRecord("r1", "fingerprint", np.ones(192) * 3, provenance())
    assert one != GalleryRecord("r1", "fingerprint", np.arange(1, 193), provenance())


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"valid_at": None}, "filters.valid_at"),
        ({"valid_at": datetime(2026, 1, 1)}, "filters.valid_at"),
        ({"exclude_origins": ("US", "")}, "filters.exclude_origins[1]"),
        ({"include_origins": "US"}, "filters.include_origins"),
        ({"include_origins": ("US",) * (MAX_FILTER_VALUES + 1)}, "filters.include_origins"),
        ({"required_consent_scope": ""}, "filters.required_consent_scope"),
        ({"not_captured_before": "yesterday"}, "filters.not_captured_before"),
        ({"source_agencies": ("\x00",)}, "filters.source_agencies[0]"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_bad_filters_are_refused_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        filters(**overrides)
    assert caught.value.field == field


BASE = provenance(
    "US-OR-RIVERTON",
    source_agency="or-fusion",
    lineage=("riverton-pd", "or-fusion"),
    consent_scopes=("criminal_investigation", "missing_person"),
    captured_at=NOW - timedelta(days=100),
    retain_until=NOW + timedelta(days=100),
)


@pytest.mark.parametrize(
    ("record_changes", "filter_values", "admitted"),
    [
        ({}, {}, True),
        ({}, {"exclude_origins": ("US-OR-RIVERTON",)}, False),
        ({}, {"exclude_origins": ("US-OR",)}, True),  # exact origins, no prefix matching
        ({}, {"include_origins": ("US", "US-OR")}, False),
        ({}, {"include_origins": ("US-OR-RIVERTON",)}, True),
        (
            {},
            {"include_origins": ("US-OR-RIVERTON",), "exclude_origins": ("US-OR-RIVERTON",)},
            False,
        ),
        ({"retain_until": NOW}, {}, False),  # retain_until must be after valid_at
        ({"retain_until": NOW + timedelta(microseconds=1)}, {}, True),
        ({}, {"required_consent_scope": "missing_person"}, True),
        ({}, {"required_consent_scope": "immigration_enforcement"}, False),
        ({"consent_withdrawn_at": NOW}, {"required_consent_scope": "missing_person"}, False),
        (
            {"consent_withdrawn_at": NOW + timedelta(seconds=1)},
            {"required_consent_scope": "missing_person"},
            True,
        ),
        ({"consent_withdrawn_at": NOW - timedelta(days=1)}, {}, True),  # no scope required
        ({}, {"not_captured_before": NOW - timedelta(days=100)}, True),  # inclusive
        ({}, {"not_captured_before": NOW - timedelta(days=99)}, False),
        ({}, {"source_agencies": ("or-fusion",)}, True),
        ({}, {"source_agencies": ("riverton-pd",)}, False),  # lineage is not the holder
    ],
)
def test_filter_semantics(
    record_changes: dict[str, Any], filter_values: dict[str, Any], admitted: bool
) -> None:
    record = replace(BASE, **record_changes)
    assert filters(**filter_values).admits(record) is admitted


def test_admits_origin_decides_partitions_without_records() -> None:
    chosen = SearchFilters(valid_at=NOW, include_origins=("US", "CL"), exclude_origins=("CL",))
    assert chosen.admits_origin("US")
    assert not chosen.admits_origin("CL")
    assert not chosen.admits_origin("US-OR")
