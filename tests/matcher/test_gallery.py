"""Gallery behaviour in one process: add, search, compare, remove, filters, bad input."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matcher.errors import DuplicateRecordError, GalleryClosedError, InvalidInputError
from matcher.gallery import Gallery, Removal
from matcher.partition import Partition
from matcher.records import GalleryRecord, PartitionSummary
from tests.matcher.support import (
    NOW,
    Population,
    expected_scores,
    filters,
    gallery_bytes,
    provenance,
)

Built = tuple[Gallery, Population]


def _brute_force(
    records: list[GalleryRecord], probe: np.ndarray, k: int
) -> list[tuple[str, float]]:
    scores = expected_scores(np.stack([r.template for r in records]), probe)
    ranked = sorted(
        zip(scores.tolist(), (r.record_id for r in records), strict=True),
        key=lambda pair: (-pair[0], pair[1]),
    )
    return [(record_id, score) for score, record_id in ranked[:k]]


def test_search_equals_exact_numpy_ranking(built: Built) -> None:
    gallery, population = built
    faces = population.live("face")
    for record_id in ("f000", "f077", "b003"):
        probe = population.probe(record_id)
        results, searched = gallery.search("face", probe, 10, -1.0, filters())
        expected = _brute_force(faces, probe, 10)
        assert [r.record_id for r in results] == [record_id for record_id, _ in expected]
        assert results[0].record_id == record_id  # the mate ranks first
        for result, (_, score) in zip(results, expected, strict=True):
            assert result.score == pytest.approx(score, abs=1e-6)
        assert searched == ["face/CL", "face/US", "face/US-OR", "face/US-OR-RIVERTON"]


def test_scores_are_cosine_similarities_of_the_stored_templates(built: Built) -> None:
    gallery, population = built
    probe = population.probe("f010") * 25.0  # the probe's scale must not matter
    results, _ = gallery.search("face", probe, 5, -1.0, filters())
    for result in results:
        template = population.records[result.record_id].template.astype(np.float64)
        unit = probe.astype(np.float64) / np.linalg.norm(probe)
        assert result.score == pytest.approx(float(template @ unit), abs=1e-6)
    assert 0.4 < results[0].score < 0.9  # a genuine score, per the synthetic calibration


def test_results_carry_provenance_and_are_in_the_modality_searched(built: Built) -> None:
    gallery, population = built
    results, searched = gallery.search("fingerprint", population.probe("p004"), 3, -1.0, filters())
    assert results[0].record_id == "p004"
    assert results[0].provenance == population.records["p004"].provenance
    assert all(r.record_id.startswith("p") for r in results)
    assert searched == ["fingerprint/US", "fingerprint/US-OR"]


def test_ties_are_broken_by_record_id(make_gallery: Callable[..., Gallery]) -> None:
    template = np.random.default_rng(5).standard_normal(192)
    twins = [
        GalleryRecord(rid, "fingerprint", template, provenance(origin))
        for rid, origin in [("t-c", "US"), ("t-a", "CL"), ("t-b", "US")]
    ]
    gallery = make_gallery(records=twins[:2])
    gallery.add(twins[2])  # one twin is buffered, two are built: still one order
    for _ in range(3):
        results, _ = gallery.search("fingerprint", template, 3, -1.0, filters())
        assert [r.record_id for r in results] == ["t-a", "t-b", "t-c"]
        assert len({r.score for r in results}) == 1


def test_k_and_min_score_bound_the_results(built: Built) -> None:
    gallery, population = built
    probe = population.probe("f020")
    assert len(gallery.search("face", probe, 1, -1.0, filters())[0]) == 1
    assert len(gallery.search("face", probe, 1000, -1.0, filters())[0]) == 172
    above, _ = gallery.search("face", probe, 50, 0.3, filters())
    assert [r.record_id for r in above] == ["f020"]
    everything, _ = gallery.search("face", probe, 1000, -1.0, filters())
    cut = everything[10].score
    kept, _ = gallery.search("face", probe, 1000, cut, filters())
    assert kept == [r for r in everything if r.score >= cut]
    assert len(kept) >= 11


def test_add_is_searchable_at_once_and_returns_increasing_seqs(built: Built) -> None:
    gallery, population = built
    first = gallery.add(population.make("new-1", "CL"))
    second = gallery.add(population.make("new-2", "CL"))
    assert second == first + 1
    results, _ = gallery.search("face", population.probe("new-2"), 1, -1.0, filters())
    assert results[0].record_id == "new-2"


def test_a_new_origin_creates_a_partition(built: Built) -> None:
    gallery, population = built
    gallery.add(population.make("gb-1", "GB-ENG"))
    results, searched = gallery.search("face", population.probe("gb-1"), 1, -1.0, filters())
    assert results[0].record_id == "gb-1"
    assert "face/GB-ENG" in searched
    assert PartitionSummary("face", "GB-ENG", 1) in gallery.partitions()


def test_remove_built_and_buffered_records(built: Built) -> None:
    gallery, population = built
    for record_id in ("f001", "b001"):
        removal = gallery.remove(record_id)
        assert removal.removed
        assert removal.journal_seq > 0
        probe = population.probe(record_id)
        results, _ = gallery.search("face", probe, 1000, -1.0, filters())
        assert record_id not in {r.record_id for r in results}
        assert gallery.get(record_id) is None
        assert gallery.compare(record_id, "face", probe, filters()) is None
    assert gallery.remove("f001") == Removal(removed=False, journal_seq=0)
    assert gallery.remove("never-there") == Removal(removed=False, journal_seq=0)


def test_removing_the_last_buffered_record_of_an_origin_drops_its_partition(
    built: Built,
) -> None:
    gallery, population = built
    gallery.add(population.make("solo", "MX"))
    gallery.remove("solo")
    _, searched = gallery.search("face", population.probe("solo"), 5, -1.0, filters())
    assert "face/MX" not in searched
    assert all(p.origin_jurisdiction != "MX" for p in gallery.partitions())


def test_a_removed_id_can_be_enrolled_again(built: Built) -> None:
    gallery, population = built
    gallery.remove("f005")
    replacement = population.make("f005", "CL")  # a new identity under the old id
    gallery.add(replacement)
    assert gallery.get("f005") == replacement
    results, _ = gallery.search("face", population.probe("f005"), 1, -1.0, filters())
    assert results[0].record_id == "f005"
    assert results[0].provenance.origin_jurisdiction == "CL"


def test_get_returns_the_stored_record(built: Built) -> None:
    gallery, population = built
    assert gallery.get("f033") == population.records["f033"]
    assert gallery.get("b002") == population.records["b002"]
    assert gallery.get("nobody") is None


def test_compare(built: Built) -> None:
    gallery, population = built
    probe = population.probe("f040")
    result = gallery.compare("f040", "face", probe, filters())
    assert result is not None
    assert result.provenance == population.records["f040"].provenance
    expected = expected_scores(population.records["f040"].template[None, :], probe)[0]
    assert result.score == pytest.approx(expected, abs=1e-6)
    impostor = gallery.compare("f041", "face", probe, filters())
    assert impostor is not None
    assert abs(impostor.score) < 0.25
    origin = population.records["f040"].provenance.origin_jurisdiction
    assert gallery.compare("f040", "face", probe, filters(exclude_origins=(origin,))) is None
    later = filters(valid_at=NOW + timedelta(days=4000))
    assert gallery.compare("f040", "face", probe, later) is None
    assert gallery.compare("missing", "face", probe, filters()) is None


def test_compare_refuses_a_probe_of_another_modality(built: Built) -> None:
    gallery, population = built
    with pytest.raises(InvalidInputError, match="holds a fingerprint template") as caught:
        gallery.compare("p001", "face", population.probe("f001"), filters())
    assert caught.value.field == "modality"


@pytest.mark.parametrize(
    ("filter_values", "kept"),
    [
        (
            {"exclude_origins": ("US", "CL")},
            lambda r: r.provenance.origin_jurisdiction not in ("US", "CL"),
        ),
        ({"include_origins": ("US-OR",)}, lambda r: r.provenance.origin_jurisdiction == "US-OR"),
        ({"source_agencies": ("cl-pdi",)}, lambda r: r.provenance.source_agency == "cl-pdi"),
    ],
    ids=["exclude", "include", "agencies"],
)
def test_origin_and_agency_filters(
    built: Built, filter_values: dict[str, Any], kept: Callable[[GalleryRecord], bool]
) -> None:
    gallery, population = built
    results, _ = gallery.search(
        "face", population.probe("f000"), 1000, -1.0, filters(**filter_values)
    )
    assert {r.record_id for r in results} == {r.record_id for r in population.live() if kept(r)}


def test_excluded_partitions_are_not_searched(built: Built) -> None:
    gallery, population = built
    _, searched = gallery.search(
        "face", population.probe("f000"), 5, -1.0, filters(exclude_origins=("US", "CL"))
    )
    assert searched == ["face/US-OR", "face/US-OR-RIVERTON"]
    _, searched = gallery.search(
        "face", population.probe("f000"), 5, -1.0, filters(include_origins=("CL", "ZZ"))
    )
    assert searched == ["face/CL"]


def test_retention_consent_and_capture_filters_find_rare_records_beyond_the_window(
    make_gallery: Callable[..., Gallery], population: Population
) -> None:
    """Only 3 of 400 records pass; the window must grow past Annoy's first candidates."""
    records = [
        population.make(f"r{i:03d}", "US", consent_scopes=("criminal_investigation",))
        for i in range(400)
    ]
    rare = [population.make(f"rare{i}", "US", consent_scopes=("missing_person",)) for i in range(3)]
    gallery = make_gallery(records=records + rare)
    results, _ = gallery.search(
        "face",
        population.probe("r000"),
        3,
        -1.0,
        filters(required_consent_scope="missing_person"),
    )
    assert sorted(r.record_id for r in results) == ["rare0", "rare1", "rare2"]


def test_retention_consent_withdrawal_and_capture_date(
    make_gallery: Callable[..., Gallery], population: Population
) -> None:
    records = [
        population.make("kept", "US", consent_scopes=("missing_person",)),
        population.make("expiring", "US", retain_until=NOW + timedelta(days=2)),
        population.make(
            "withdrawn",
            "US",
            consent_scopes=("missing_person",),
            consent_withdrawn_at=NOW - timedelta(days=1),
        ),
        population.make(
            "old", "US", captured_at=NOW - timedelta(days=3000), consent_scopes=("missing_person",)
        ),
    ]
    gallery = make_gallery(records=records)

    def found(**values: Any) -> set[str]:
        results, _ = gallery.search("face", population.probe("kept"), 10, -1.0, filters(**values))
        return {r.record_id for r in results}

    assert found() == {"kept", "withdrawn", "old", "expiring"}
    assert found(required_consent_scope="missing_person") == {"kept", "old"}
    assert found(not_captured_before=NOW - timedelta(days=1000)) == {
        "kept",
        "withdrawn",
        "expiring",
    }
    assert found(valid_at=NOW + timedelta(days=2)) == {"kept", "withdrawn", "old"}


def test_duplicate_id_changes_nothing(built: Built) -> None:
    gallery, population = built
    before = gallery_bytes(gallery.directory)
    partitions = gallery.partitions()
    clone = GalleryRecord("f010", "face", population.probe("f020"), provenance("CL"))
    for record in (clone, population.records["b004"]):
        with pytest.raises(DuplicateRecordError) as caught:
            gallery.add(record)
        assert caught.value.record_id == record.record_id
    assert gallery_bytes(gallery.directory) == before
    assert gallery.partitions() == partitions
    assert gallery.get("f010") == population.records["f010"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"modality": "iris"}, "modality"),
        ({"probe": np.ones(3)}, "probe"),
        ({"probe": np.full(512, np.nan)}, "probe"),
        ({"probe": np.zeros(512)}, "probe"),
        ({"k": 0}, "k"),
        ({"k": 1001}, "k"),
        ({"k": 2.5}, "k"),
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": float("nan")}, "min_score"),
        ({"filters": None}, "filters"),
    ],
    ids=lambda value: str(value)[:30],
)
def test_bad_search_arguments_name_the_field_and_change_nothing(
    built: Built, arguments: dict[str, Any], field: str
) -> None:
    gallery, population = built
    before = gallery_bytes(gallery.directory)
    call: dict[str, Any] = {
        "modality": "face",
        "probe": population.probe("f000"),
        "k": 5,
        "min_score": 0.0,
        "filters": filters(),
    }
    call.update(arguments)
    with pytest.raises(InvalidInputError) as caught:
        gallery.search(**call)
    assert caught.value.field == field
    assert gallery_bytes(gallery.directory) == before


def test_bad_record_ids_are_refused(built: Built) -> None:
    gallery, population = built
    for call in (
        lambda: gallery.remove("bad id"),
        lambda: gallery.get(""),
        lambda: gallery.compare("x" * 129, "face", population.probe("f000"), filters()),
    ):
        with pytest.raises(InvalidInputError) as caught:
            call()
        assert caught.value.field == "record_id"


def test_partitions_lists_live_counts(built: Built) -> None:
    gallery, _ = built
    gallery.remove("f000")  # a US face record (built)
    assert gallery.partitions() == [
        PartitionSummary("face", "CL", 43),
        PartitionSummary("face", "US", 42),
        PartitionSummary("face", "US-OR", 43),
        PartitionSummary("face", "US-OR-RIVERTON", 43),
        PartitionSummary("fingerprint", "US", 10),
        PartitionSummary("fingerprint", "US-OR", 10),
    ]


def test_a_closed_gallery_refuses_calls(built: Built) -> None:
    gallery, population = built
    gallery.close()
    gallery.close()  # idempotent
    with pytest.raises(GalleryClosedError):
        gallery.search("face", population.probe("f000"), 1, 0.0, filters())
    with pytest.raises(GalleryClosedError):
        gallery.add(population.make("late", "US"))
    with pytest.raises(GalleryClosedError):
        gallery.remove("f000")


def test_an_excluded_partition_is_never_searched(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only reported: the excluded partitions' search (and index) is never called."""
    gallery, population = built
    touched: list[str] = []
    search = Partition.search

    def recording(self: Partition, *args: Any, **kwargs: Any) -> Any:
        touched.append(str(self.key))
        return search(self, *args, **kwargs)

    monkeypatch.setattr(Partition, "search", recording)
    gallery.search("face", population.probe("f000"), 5, -1.0, filters(exclude_origins=("US",)))
    assert sorted(touched) == ["face/CL", "face/US-OR", "face/US-OR-RIVERTON"]
    touched.clear()
    gallery.search("face", population.probe("f000"), 5, -1.0, filters(include_origins=("CL",)))
    assert touched == ["face/CL"]


def test_the_same_search_gives_the_same_result(built: Built) -> None:
    gallery, population = built
    probe = population.probe("f050")
    first = gallery.search("face", probe, 20, -1.0, filters())
    assert all(gallery.search("face", probe, 20, -1.0, filters()) == first for _ in range(5))


def test_indexes_and_vectors_are_memory_mapped_not_read(built: Built) -> None:
    """Their pages belong to the page cache, shared by every process mapping the files."""
    gallery, _ = built
    maps = Path("/proc/self/maps").read_text()
    generation = gallery.directory / "generations" / "1" / "face" / "US"
    assert str(generation / "index.ann") in maps
    assert str(generation / "vectors.npy") in maps
