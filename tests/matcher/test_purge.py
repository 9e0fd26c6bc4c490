"""Which rebuild removed an expunged template, and rebuilds that reuse unchanged partitions."""

from __future__ import annotations

import base64
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc

from matcher.config import MatcherConfig
from matcher.errors import InvalidInputError
from matcher.gallery import Gallery
from matcher.generation import BuiltGeneration, build_generation
from matcher.journal import Journal
from matcher.manifest import Manifest
from matcher.server import serve
from tests.matcher.support import NOW, FakeClock, Population, filters, gallery_bytes

Built = tuple[Gallery, Population]


def _inode(gallery: Gallery, origin: str, name: str = "index.ann") -> int:
    generation = Manifest.read(gallery.directory).generation
    path = gallery.directory / "generations" / str(generation) / "face" / origin / name
    return path.stat().st_ino


def test_purge_status_names_the_rebuild_that_removed_a_template(
    built: Built, clock: FakeClock
) -> None:
    gallery, _ = built
    removal = gallery.remove("f010")
    status = gallery.purge_status(removal.journal_seq)
    assert (status.purged, status.generation, status.purged_at) == (False, None, None)
    assert status.live_generation == 1
    clock.advance(timedelta(minutes=5))
    gallery.rebuild()
    status = gallery.purge_status(removal.journal_seq)
    assert (status.purged, status.generation, status.live_generation) == (True, 2, 2)
    assert status.purged_at == NOW + timedelta(minutes=5)
    # an addition folded in at creation is "purged" by generation 1: nothing is pending
    assert gallery.purge_status(1).generation == 1
    history = gallery.history()
    assert [(b.generation, b.expunged) for b in history] == [(1, 0), (2, 1)]
    assert history[0].folded_seq == 180 and history[1].folded_seq == removal.journal_seq


def test_a_removal_during_a_rebuild_is_purged_by_the_next_one(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    gallery, _ = built
    seqs: list[int] = []

    def build_while_removing(*args: Any, **kwargs: Any) -> BuiltGeneration:
        seqs.append(gallery.remove("f020").journal_seq)
        return build_generation(*args, **kwargs)

    monkeypatch.setattr("matcher.gallery.build_generation", build_while_removing)
    gallery.rebuild()
    monkeypatch.undo()
    assert gallery.purge_status(seqs[0]).purged is False  # generation 2 still holds it
    gallery.rebuild()
    status = gallery.purge_status(seqs[0])
    assert (status.purged, status.generation) == (True, 3)
    assert [b.expunged for b in gallery.history()] == [0, 0, 1]


def test_purge_status_survives_a_restart(built: Built, clock: FakeClock) -> None:
    gallery, _ = built
    seq = gallery.remove("f030").journal_seq
    gallery.rebuild()
    directory = gallery.directory
    gallery.close()
    with Gallery.open(directory, clock=clock) as reopened:
        assert reopened.purge_status(seq).generation == 2
        assert [b.generation for b in reopened.history()] == [1, 2]


@pytest.mark.parametrize("seq", [0, -1, True, 10_000])
def test_purge_status_refuses_seqs_that_do_not_exist(built: Built, seq: Any) -> None:
    gallery, _ = built
    with pytest.raises(InvalidInputError) as caught:
        gallery.purge_status(seq)
    assert caught.value.field == "journal_seq"


def test_a_crash_before_the_journal_rewrite_is_purged_on_open(
    built: Built, population: Population, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    """The build committed but the journal still holds a removed buffered template: the next
    open deletes those lines, and only then reports the removal purged."""
    gallery, _ = built
    seq = gallery.remove("b004").journal_seq
    raw = population.records["b004"].template.astype("<f4").tobytes()

    def crash(*_: Any) -> None:
        raise OSError("simulated crash before the journal rewrite")

    monkeypatch.setattr(Journal, "rewrite", crash)
    with pytest.raises(Exception, match="simulated crash"):
        gallery.rebuild()
    monkeypatch.undo()
    assert base64.b64encode(raw) in (gallery.directory / "journal.jsonl").read_bytes()
    assert gallery.purge_status(seq).purged is False
    directory = gallery.directory
    gallery.close()
    with Gallery.open(directory, clock=clock) as reopened:
        assert reopened.purge_status(seq).generation == 2
        files = gallery_bytes(directory)
        assert not any(base64.b64encode(raw) in data or raw in data for data in files.values())
        assert reopened.get("b010") == population.records["b010"]  # folded, kept


def test_a_rebuild_reuses_unchanged_partitions_and_rebuilds_changed_ones(
    built: Built, population: Population
) -> None:
    gallery, _ = built
    gallery.rebuild()  # fold the fixture's buffered records everywhere
    before = {origin: _inode(gallery, origin) for origin in ("US", "CL", "US-OR")}
    gallery.remove("f001")  # US-OR
    gallery.add(population.make("new-cl", "CL"))
    gallery.rebuild()
    after = {origin: _inode(gallery, origin) for origin in ("US", "CL", "US-OR")}
    assert after["US"] == before["US"]  # linked, not rebuilt
    assert after["CL"] != before["CL"]
    assert after["US-OR"] != before["US-OR"]
    # face/US, face/US-OR-RIVERTON and both fingerprint partitions
    assert gallery.history()[-1].reused == 4
    results, _ = gallery.search("face", population.probe("f004"), 1, -1.0, filters())
    assert results[0].record_id == "f004"  # a record of the reused US partition
    assert gallery.get("f001") is None
    assert gallery.get("new-cl") == population.records["new-cl"]
    directory = gallery.directory
    gallery.close()
    with Gallery.open(directory) as reopened:
        assert reopened.get("f004") == population.records["f004"]


def test_changing_n_trees_rebuilds_every_partition(tmp_path: Path, population: Population) -> None:
    records = [population.make(f"r{i}", origin) for i, origin in enumerate(["US", "CL"] * 30)]
    Gallery.create(tmp_path / "g", n_trees=4, records=records).close()
    with Gallery.open(tmp_path / "g", n_trees=6) as gallery:
        gallery.rebuild()
        assert gallery.history()[-1].reused == 0
        assert Manifest.read(tmp_path / "g").n_trees == 6


def test_get_purge_status_over_grpc(tmp_path: Path, population: Population) -> None:
    records = [population.make(f"r{i}", "US") for i in range(20)]
    Gallery.create(tmp_path / "g", records=records).close()
    running = serve(
        MatcherConfig(
            gallery_dir=tmp_path / "g", listen=f"unix:{tmp_path}/m.sock", rebuild_threshold=0
        )
    )
    try:
        with grpc.insecure_channel(running.address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            removed = stub.Remove(matcher_pb2.RemoveRequest(record_id="r3"), timeout=10)
            request = matcher_pb2.GetPurgeStatusRequest(journal_seq=removed.journal_seq)
            pending = stub.GetPurgeStatus(request, timeout=10)
            assert (pending.purged, pending.generation, pending.live_generation) == (False, 0, 1)
            assert not pending.HasField("purged_at")
            running.gallery.rebuild()
            done = stub.GetPurgeStatus(request, timeout=10)
            assert (done.purged, done.generation, done.live_generation) == (True, 2, 2)
            assert (
                done.purged_at.ToDatetime(tzinfo=UTC) == running.gallery.history()[1].committed_at
            )
    finally:
        running.stop(grace=None)
