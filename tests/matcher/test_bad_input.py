"""Issue 5, item 7: every kind of bad input is a clear error naming the field, and nothing
in the gallery changes (its files are byte-identical, the next seq is the expected one)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc

from matcher.config import MatcherConfig
from matcher.gallery import Gallery
from matcher.server import RunningMatcher, serve
from tests.matcher.support import NOW, FakeClock, Population, gallery_bytes

FACE = matcher_pb2.MODALITY_FACE
FINGERPRINT = matcher_pb2.MODALITY_FINGERPRINT
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@dataclass
class Served:
    running: RunningMatcher
    stub: Any
    directory: Path
    population: Population


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("bad-input")
    population = Population()
    records = [population.make(f"g{i:02d}", "US") for i in range(30)]
    records.append(population.make("fp", "US", "fingerprint"))
    Gallery.create(root / "gallery", records=records).close()
    running = serve(
        MatcherConfig(gallery_dir=root / "gallery", listen=f"unix:{root}/m.sock"),
        clock=FakeClock(),
    )
    with grpc.insecure_channel(running.address) as channel:
        served = Served(
            running, matcher_pb2_grpc.MatcherStub(channel), root / "gallery", population
        )
        served.running.gallery.add(population.make("buffered", "CL"))  # a journal line too
        yield served
    running.stop(grace=None)


def _face(**changes: float) -> list[float]:
    values = [0.04] * 512
    for index, value in changes.items():
        values[int(index[1:])] = value
    return values


def _filters() -> Any:
    message = matcher_pb2.SearchFilters()
    message.valid_at.FromDatetime(NOW)
    return message


def _provenance() -> Any:
    message = matcher_pb2.Provenance(origin_jurisdiction="US", source_agency="us-fbi")
    message.captured_at.FromDatetime(NOW - timedelta(days=1))
    message.retain_until.FromDatetime(NOW + timedelta(days=365))
    return message


def _search(**changes: Any) -> tuple[str, Any]:
    values: dict[str, Any] = {"modality": FACE, "probe": _face(), "k": 5, "filters": _filters()}
    values.update(changes)
    return "Search", matcher_pb2.SearchRequest(**values)


def _add(**changes: Any) -> tuple[str, Any]:
    values: dict[str, Any] = {
        "record_id": "new-record",
        "modality": FACE,
        "template": _face(),
        "provenance": _provenance(),
    }
    values.update(changes)
    return "Add", matcher_pb2.AddRequest(**values)


def _compare(**changes: Any) -> tuple[str, Any]:
    values: dict[str, Any] = {
        "record_id": "g01",
        "modality": FACE,
        "probe": _face(),
        "filters": _filters(),
    }
    values.update(changes)
    return "Compare", matcher_pb2.CompareRequest(**values)


# (case, (method, request), expected status, expected start of the details)
CASES: list[tuple[str, tuple[str, Any], grpc.StatusCode, str]] = [
    ("search-wrong-dimension", _search(probe=[0.1] * 192), INVALID, "probe: expected 512 values"),
    (
        "search-empty-probe",
        _search(probe=[]),
        INVALID,
        "probe: expected 512 values for face, got 0",
    ),
    ("search-nan", _search(probe=_face(i7=math.nan)), INVALID, "probe: contains NaN or infinite"),
    ("search-inf", _search(probe=_face(i0=math.inf)), INVALID, "probe: contains NaN or infinite"),
    ("search-minus-inf", _search(probe=_face(i9=-math.inf)), INVALID, "probe: contains NaN"),
    ("search-zero-vector", _search(probe=[0.0] * 512), INVALID, "probe: the all-zero vector"),
    ("search-unknown-modality", _search(modality=9), INVALID, "modality: modality 9 is"),
    ("search-unspecified-modality", _search(modality=0), INVALID, "modality: modality 0 is"),
    ("search-k-zero", _search(k=0), INVALID, "k: must be an integer in 1..1000, got 0"),
    ("search-k-too-big", _search(k=1001), INVALID, "k: must be an integer in 1..1000, got 1001"),
    ("search-k-huge", _search(k=2**32 - 1), INVALID, "k: must be an integer in 1..1000"),
    ("search-min-score", _search(min_score=-1.5), INVALID, "min_score: must be a number"),
    ("add-wrong-dimension", _add(template=[0.1] * 192), INVALID, "template: expected 512 values"),
    ("add-wrong-modality", _add(modality=FINGERPRINT), INVALID, "template: expected 192 values"),
    ("add-nan", _add(template=_face(i1=math.nan)), INVALID, "template: contains NaN or infinite"),
    ("add-inf", _add(template=_face(i2=math.inf)), INVALID, "template: contains NaN or infinite"),
    ("add-zero-vector", _add(template=[0.0] * 512), INVALID, "template: the all-zero vector"),
    ("add-unknown-modality", _add(modality=5), INVALID, "modality: modality 5 is"),
    # A live id is a conflict with the gallery's state, not a malformed request: gRPC's code
    # for "the entity a client tried to create already exists" (the broker relies on it).
    (
        "add-duplicate-built-id",
        _add(record_id="g03"),
        grpc.StatusCode.ALREADY_EXISTS,
        "record_id: 'g03' is already in the gallery",
    ),
    (
        "add-duplicate-buffered-id",
        _add(record_id="buffered"),
        grpc.StatusCode.ALREADY_EXISTS,
        "record_id: 'buffered' is already in the gallery",
    ),
    ("compare-wrong-dimension", _compare(probe=[0.2] * 100), INVALID, "probe: expected 512"),
    ("compare-nan", _compare(probe=_face(i4=math.nan)), INVALID, "probe: contains NaN"),
    ("compare-zero-vector", _compare(probe=[0.0] * 512), INVALID, "probe: the all-zero"),
    ("compare-unknown-modality", _compare(modality=3), INVALID, "modality: modality 3 is"),
    (
        "compare-other-modality",
        _compare(record_id="fp", modality=FACE),
        INVALID,
        "modality: record 'fp' holds a fingerprint template",
    ),
    (
        "purge-status-seq-zero",
        ("GetPurgeStatus", matcher_pb2.GetPurgeStatusRequest()),
        INVALID,
        "journal_seq: must be a positive integer, got 0",
    ),
    (
        "purge-status-future-seq",
        ("GetPurgeStatus", matcher_pb2.GetPurgeStatusRequest(journal_seq=99)),
        INVALID,
        "journal_seq: 99 is after the last seq (32)",
    ),
]


@pytest.mark.parametrize(
    ("call", "code", "details"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
    served: Served, call: tuple[str, Any], code: grpc.StatusCode, details: str
) -> None:
    before = gallery_bytes(served.directory)
    partitions = served.running.gallery.partitions()
    method, request = call
    with pytest.raises(grpc.RpcError) as caught:
        getattr(served.stub, method)(request, timeout=10)
    assert caught.value.code() == code
    assert caught.value.details().startswith(details)
    assert gallery_bytes(served.directory) == before
    assert served.running.gallery.partitions() == partitions
    assert served.running.gallery.get("new-record") is None


def test_after_every_refusal_the_next_seq_is_unchanged(served: Served) -> None:
    """Runs after the table (same module): 31 created + 1 buffered, so the next seq is 33."""
    method, request = _add(record_id="after-the-table")
    assert getattr(served.stub, method)(request, timeout=10).journal_seq == 33
