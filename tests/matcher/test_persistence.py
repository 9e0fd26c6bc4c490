"""What survives a restart, what a rebuild folds and deletes, and how crashes are recovered."""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matcher.errors import DuplicateRecordError, GalleryClosedError, GalleryError
from matcher.gallery import Gallery
from matcher.generation import BuiltGeneration, build_generation
from matcher.manifest import Manifest
from tests.matcher.support import ORIGINS, Population, filters, gallery_bytes

Built = tuple[Gallery, Population]


def _state(gallery: Gallery, population: Population) -> list[Any]:
    """Search results for a fixed set of probes: what a restart must not change."""
    probes = np.random.default_rng(3)
    state: list[Any] = [gallery.partitions()]
    for record_id in sorted(population.identities)[::9]:
        identity = population.identities[record_id]
        modality = "face" if identity.shape[0] == 512 else "fingerprint"
        probe = identity + probes.standard_normal(identity.shape[0]) * 0.03
        state.append(gallery.search(modality, probe, 10, -1.0, filters()))
    return state


def _reopen(gallery: Gallery) -> Gallery:
    gallery.close()
    return Gallery.open(gallery.directory)


def test_restart_replays_additions_and_removals(built: Built) -> None:
    gallery, population = built
    gallery.add(population.make("late-1", "CL"))
    gallery.remove("f002")  # built
    gallery.remove("b002")  # buffered
    before = _state(gallery, population)
    reopened = _reopen(gallery)
    try:
        assert _state(reopened, population) == before
        assert reopened.get("late-1") == population.records["late-1"]
        assert reopened.get("f002") is None
        assert reopened.get("b002") is None
        assert reopened.pending_changes() == 12 + 1 - 1 + 1  # buffer and one tombstone
        seq = reopened.add(population.make("late-2", "US"))
        assert seq == 180 + 12 + 3 + 1  # seqs continue after the replayed ones
    finally:
        reopened.close()


def test_rebuild_folds_buffers_and_tombstones(built: Built) -> None:
    gallery, population = built
    gallery.remove("f003")
    gallery.remove("b003")
    before = _state(gallery, population)
    gallery.rebuild()
    assert gallery.pending_changes() == 0
    assert _state(gallery, population) == before
    manifest = Manifest.read(gallery.directory)
    assert manifest.generation == 2
    assert manifest.folded_seq == 180 + 12 + 2
    assert sum(p.count for p in manifest.partitions) == 180 + 12 - 2
    assert (gallery.directory / "journal.jsonl").read_bytes() == b""
    assert sorted(p.name for p in (gallery.directory / "generations").iterdir()) == ["2"]
    reopened = _reopen(gallery)
    try:
        assert _state(reopened, population) == before
        assert reopened.pending_changes() == 0
    finally:
        reopened.close()


def test_an_expunged_template_is_gone_from_every_file_after_rebuild(built: Built) -> None:
    gallery, population = built
    victims = {rid: population.records[rid].template for rid in ("f007", "b007")}
    for record_id in victims:
        gallery.remove(record_id)

    def traces(template: np.ndarray) -> list[bytes]:
        raw = template.astype("<f4").tobytes()
        return [raw, base64.b64encode(raw), raw[:64]]

    files = gallery_bytes(gallery.directory)
    assert any(trace in data for data in files.values() for trace in traces(victims["b007"]))
    gallery.rebuild()
    files = gallery_bytes(gallery.directory)
    for record_id, template in victims.items():
        for name, data in files.items():
            assert record_id.encode() not in data, name
            for trace in traces(template):
                assert trace not in data, name
    kept = population.records["f008"].template.astype("<f4").tobytes()
    assert any(kept in data for data in files.values())  # the check can see templates


def test_torn_final_journal_line_is_cut_off(built: Built) -> None:
    gallery, population = built
    directory = gallery.directory
    gallery.close()
    journal = directory / "journal.jsonl"
    intact = journal.read_bytes()
    with journal.open("ab") as stream:
        stream.write(b'{"seq": 999, "op": "add", "rec')  # a write that never returned
    reopened = Gallery.open(directory)
    try:
        assert journal.read_bytes() == intact
        assert reopened.get("b011") == population.records["b011"]
        assert reopened.add(population.make("after-tear", "US")) == 180 + 12 + 1
    finally:
        reopened.close()


@pytest.mark.parametrize(
    "damage",
    [
        lambda lines: [lines[0], b"not json", *lines[1:]],
        lambda lines: [lines[1], lines[0], *lines[2:]],  # out of order
        lambda lines: [*lines, lines[0].replace(b'"seq":181', b'"seq":999')],  # added twice
        lambda lines: [*lines, b'{"op":"remove","record_id":"nobody","seq":999}'],
        lambda lines: [lines[0].replace(b'"op":"add"', b'"op":"nuke"'), *lines[1:]],
    ],
    ids=["garbage", "reordered", "duplicate-add", "remove-absent", "unknown-op"],
)
def test_a_corrupt_journal_refuses_to_open(
    built: Built, damage: Callable[[list[bytes]], list[bytes]]
) -> None:
    gallery, _ = built
    directory = gallery.directory
    gallery.close()
    journal = directory / "journal.jsonl"
    lines = journal.read_bytes().splitlines()
    journal.write_bytes(b"\n".join(damage(lines)) + b"\n")
    with pytest.raises(GalleryError, match="journal"):
        Gallery.open(directory)
    # A failed open released the lock: the directory can be repaired and opened.
    journal.write_bytes(b"\n".join(lines) + b"\n")
    Gallery.open(directory).close()


def test_a_corrupt_segment_refuses_to_open(built: Built) -> None:
    gallery, _ = built
    directory = gallery.directory
    gallery.close()
    segment = directory / "generations" / "1" / "face" / "CL"
    (segment / "index.ann").write_bytes(b"\x00" * 100)
    with pytest.raises(GalleryError, match=r"index\.ann"):
        Gallery.open(directory)


def test_a_truncated_vectors_file_refuses_to_open(built: Built) -> None:
    gallery, _ = built
    directory = gallery.directory
    gallery.close()
    vectors = directory / "generations" / "1" / "face" / "US" / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-2048])
    with pytest.raises(GalleryError, match=r"vectors\.npy"):
        Gallery.open(directory)


def test_one_process_at_a_time(built: Built) -> None:
    gallery, _ = built
    with pytest.raises(GalleryError, match="open in another process"):
        Gallery.open(gallery.directory)


def test_crash_after_the_manifest_commit_is_recovered(built: Built) -> None:
    """The journal still holds the folded lines: they are skipped, not applied twice."""
    gallery, population = built
    gallery.remove("f009")
    journal = gallery.directory / "journal.jsonl"
    old_journal = journal.read_bytes()
    gallery.rebuild()
    before = _state(gallery, population)
    directory = gallery.directory
    gallery.close()
    journal.write_bytes(old_journal)  # as if the process died before rewriting it
    reopened = Gallery.open(directory)
    try:
        assert _state(reopened, population) == before
        assert reopened.pending_changes() == 0
        assert reopened.add(population.make("next", "US")) == 180 + 12 + 1 + 1
    finally:
        reopened.close()


def test_leftovers_of_an_interrupted_rebuild_are_removed_on_open(built: Built) -> None:
    gallery, population = built
    directory = gallery.directory
    before = _state(gallery, population)
    gallery.close()
    shutil.copytree(directory / "generations" / "1", directory / "generations" / "2.tmp")
    shutil.copytree(directory / "generations" / "1", directory / "generations" / "2")
    (directory / "manifest.json.tmp").write_text("{half")
    reopened = Gallery.open(directory)
    try:
        assert sorted(p.name for p in (directory / "generations").iterdir()) == ["1"]
        assert not (directory / "manifest.json.tmp").exists()
        assert _state(reopened, population) == before
    finally:
        reopened.close()


def test_mutations_during_a_rebuild_are_kept(built: Built, monkeypatch: pytest.MonkeyPatch) -> None:
    """While the new generation is being built: re-enrol a snapshotted id, remove another."""
    gallery, population = built

    def build_while_mutating(*args: Any, **kwargs: Any) -> BuiltGeneration:
        gallery.remove("f011")
        gallery.add(population.make("f011", "CL"))  # same id, new identity and origin
        gallery.remove("b005")
        gallery.add(population.make("during", "US-OR"))
        return build_generation(*args, **kwargs)

    monkeypatch.setattr("matcher.gallery.build_generation", build_while_mutating)
    gallery.rebuild()
    monkeypatch.undo()
    expected = _state(gallery, population)
    assert gallery.get("f011") == population.records["f011"]
    assert gallery.get("b005") is None
    assert gallery.get("during") == population.records["during"]
    # old f011 and b005 tombstoned in the new segments; new f011 and "during" buffered
    assert gallery.pending_changes() == 4
    results, _ = gallery.search("face", population.probe("f011"), 1, -1.0, filters())
    assert results[0].record_id == "f011"
    assert results[0].provenance.origin_jurisdiction == "CL"
    reopened = _reopen(gallery)
    try:
        assert _state(reopened, population) == expected
        reopened.rebuild()
        assert reopened.pending_changes() == 0
        assert _state(reopened, population) == expected
    finally:
        reopened.close()


def test_concurrent_searches_mutations_and_rebuilds_stay_consistent(built: Built) -> None:
    gallery, population = built
    added = [population.make(f"c{i:03d}", ORIGINS[i % 4]) for i in range(40)]
    errors: list[BaseException] = []
    done = threading.Event()

    def rebuild_repeatedly() -> None:
        try:
            while not done.is_set():
                gallery.rebuild()
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    def search_repeatedly() -> None:
        try:
            while not done.is_set():
                results, _ = gallery.search("face", population.probe("f050"), 3, -1.0, filters())
                assert results[0].record_id == "f050"
        except BaseException as error:
            errors.append(error)

    workers = [
        threading.Thread(target=rebuild_repeatedly),
        threading.Thread(target=search_repeatedly),
    ]
    for worker in workers:
        worker.start()
    try:
        for i, record in enumerate(added):
            gallery.add(record)
            if i % 2:
                gallery.remove(f"f{i:03d}")
    finally:
        done.set()
        for worker in workers:
            worker.join()
    assert errors == []
    removed = {f"f{i:03d}" for i in range(1, 40, 2)}
    for record_id, record in population.records.items():
        assert gallery.get(record_id) == (None if record_id in removed else record)
    expected = _state(gallery, population)
    reopened = _reopen(gallery)
    try:
        assert _state(reopened, population) == expected
    finally:
        reopened.close()


def test_a_failed_journal_write_changes_nothing(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    gallery, population = built
    before = gallery_bytes(gallery.directory)
    record = population.make("unlucky", "US")
    real_fsync = os.fsync
    failures = [OSError(28, "No space left on device")]

    def fsync_failing_once(fd: int) -> None:
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_failing_once)
    with pytest.raises(GalleryError, match="No space left"):
        gallery.add(record)
    monkeypatch.undo()
    assert gallery_bytes(gallery.directory) == before
    assert gallery.get("unlucky") is None
    assert gallery.add(record) == 180 + 12 + 1  # the seq was not consumed


def test_a_journal_that_cannot_be_repaired_refuses_every_later_write(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    gallery, population = built

    def fsync_always_failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync_always_failing)
    with pytest.raises(GalleryError, match="Input/output error"):
        gallery.add(population.make("first", "US"))
    monkeypatch.undo()
    with pytest.raises(GalleryClosedError, match="unknown state"):
        gallery.add(population.make("second", "US"))
    with pytest.raises(GalleryClosedError, match="unknown state"):
        gallery.remove("f000")
    assert gallery.get("first") is None
    results, _ = gallery.search("face", population.probe("f000"), 1, -1.0, filters())
    assert results[0].record_id == "f000"  # searches go on; only writes fail closed


def test_create_refuses_duplicates_and_writes_nothing(
    tmp_path: Path, population: Population
) -> None:
    one = population.make("same", "US")
    with pytest.raises(DuplicateRecordError):
        Gallery.create(tmp_path / "g", records=[one, population.make("other"), one])
    assert not (tmp_path / "g").exists()


def test_create_refuses_a_non_empty_directory_and_open_a_non_gallery(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(GalleryError, match="not an empty directory"):
        Gallery.create(tmp_path / "busy")
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    with pytest.raises(GalleryError, match="not a gallery"):
        Gallery.open(tmp_path / "busy")
    with pytest.raises(GalleryError, match="not a gallery"):
        Gallery.open(tmp_path / "absent")


def test_create_in_a_mounted_volume_keeps_lost_and_found(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    (volume / "lost+found").mkdir(parents=True)
    with Gallery.create(volume) as gallery:
        assert gallery.partitions() == []
    assert (volume / "lost+found").is_dir()
    assert json.loads((volume / "manifest.json").read_text())["generation"] == 1


def test_a_bulk_created_gallery_starts_with_nothing_pending(
    make_gallery: Callable[..., Gallery], population: Population
) -> None:
    gallery = make_gallery(records=[population.make(f"x{i}", "CL") for i in range(30)], n_trees=3)
    assert gallery.pending_changes() == 0
    assert (gallery.directory / "journal.jsonl").read_bytes() == b""
    assert Manifest.read(gallery.directory).n_trees == 3
