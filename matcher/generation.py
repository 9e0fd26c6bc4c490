"""Generations on disk: write one complete and durable, load one, delete leftovers.

A generation is a directory of segments, one per partition (matcher/segment.py). It is
written under `<G>.tmp`, fsynced and renamed to `<G>`, and only becomes live when the
manifest names it (matcher/manifest.py), so a crash at any point leaves the live generation
intact and at most a leftover that `collect_garbage` deletes on the next open.

A rebuild rewrites only the partitions that changed (additions, removals, expiries); the
segment of an unchanged partition is hard-linked into the new generation, so one expunge
in one origin does not rebuild every origin's index. Records past retain_until are never
written into a generation: a build drops them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from matcher.durable import TMP_SUFFIX, fsync_path
from matcher.errors import GalleryError
from matcher.manifest import (
    GENERATIONS_DIR,
    BuildRecord,
    Manifest,
    PartitionManifest,
    generation_dir,
    segment_dir,
)
from matcher.partition import PartitionKey, PartitionSnapshot
from matcher.records import GalleryRecord
from matcher.segment import (
    INDEX_FILE,
    RECORDS_FILE,
    VECTORS_FILE,
    RecordEntry,
    Segment,
    load_segment,
    write_segment,
)

LOG = logging.getLogger(__name__)

# The files of a segment, all of which an unchanged partition's next generation links.
SEGMENT_FILES = (INDEX_FILE, VECTORS_FILE, RECORDS_FILE)
# Bytes read per call when warming a new generation's files.
_WARM_CHUNK = 8 << 20
# Ids of the records a build left out because they were expired, one per line. A removal
# of such a record may follow in the journal (it was removed while the build ran); replay
# skips it instead of taking the gallery for corrupt.
EXPIRED_FILE = "expired.txt"

Records = tuple[list[RecordEntry], np.ndarray]
# Produces a partition's records when its segment is written, so a rebuild holds the
# vectors of one partition at a time, not of the whole gallery.
Materialise = Callable[[], Records]


@dataclass(frozen=True)
class BuildPlan:
    """What a build writes: partitions built from records, partitions linked unchanged from
    the live generation (key -> record count), and the expired records it leaves out."""

    groups: Mapping[PartitionKey, Materialise]
    reused: Mapping[PartitionKey, tuple[RecordEntry, ...]] = field(default_factory=dict)
    expired: tuple[tuple[PartitionKey, RecordEntry], ...] = ()


@dataclass(frozen=True)
class BuiltGeneration:
    """A generation written to disk (not yet live) and the entries of each of its segments,
    so loading it need not parse what was just written."""

    manifest: Manifest
    entries: Mapping[PartitionKey, tuple[RecordEntry, ...]]


@dataclass(frozen=True)
class BuildNotes:
    """What the history records about a build besides its partitions."""

    committed_at: datetime
    expunged: int
    previous: tuple[BuildRecord, ...] = ()


def plan_create(records: list[GalleryRecord], now: datetime) -> BuildPlan:
    """Groups new records by partition, giving them seqs 1..n in the order given; records
    already past retain_until at `now` keep their seq but are left out."""
    entries: dict[PartitionKey, list[RecordEntry]] = {}
    vectors: dict[PartitionKey, list[np.ndarray]] = {}
    expired: list[tuple[PartitionKey, RecordEntry]] = []
    for seq, record in enumerate(records, start=1):
        key = PartitionKey(record.modality, record.provenance.origin_jurisdiction)
        entry = RecordEntry(record.record_id, seq, record.provenance)
        if record.provenance.expired(now):
            expired.append((key, entry))
            continue
        entries.setdefault(key, []).append(entry)
        vectors.setdefault(key, []).append(record.template)
    groups = {key: _ready(entries[key], np.stack(vectors[key])) for key in entries}
    return BuildPlan(groups=groups, expired=tuple(expired))


def plan_rebuild(snapshots: list[PartitionSnapshot], *, reuse: bool) -> BuildPlan:
    """Partitions with changes are rebuilt from their live records; unchanged ones are
    linked when `reuse` allows (same n_trees); partitions left empty are dropped."""
    groups: dict[PartitionKey, Materialise] = {}
    reused: dict[PartitionKey, tuple[RecordEntry, ...]] = {}
    expired: list[tuple[PartitionKey, RecordEntry]] = []
    for snapshot in snapshots:
        expired.extend((snapshot.key, entry) for entry in snapshot.expired)
        if reuse and snapshot.unchanged and snapshot.segment is not None:
            reused[snapshot.key] = snapshot.segment.entries
        elif snapshot.live_positions or snapshot.buffer_entries:
            groups[snapshot.key] = snapshot.materialise
    return BuildPlan(groups=groups, reused=reused, expired=tuple(expired))


def _ready(entries: list[RecordEntry], vectors: np.ndarray) -> Materialise:
    return lambda: (entries, vectors)


def build_generation(
    directory: Path,
    *,
    generation: int,
    folded_seq: int,
    n_trees: int,
    plan: BuildPlan,
    notes: BuildNotes,
) -> BuiltGeneration:
    """Writes a complete generation under a temporary name, then renames it into place.

    Reused partitions are hard-linked from the live generation (generation - 1): their
    files are never modified, so both generations may share them.
    """
    final = generation_dir(directory, generation)
    staging = final.with_name(final.name + TMP_SUFFIX)
    remove_tree(staging)
    remove_tree(final)
    staging.mkdir(parents=True)
    entries_of: dict[PartitionKey, tuple[RecordEntry, ...]] = {}
    try:
        built = []
        for key in sorted({*plan.groups, *plan.reused}):
            target = staging / key.modality / key.origin
            if key in plan.reused:
                _link_segment(segment_dir(directory, generation - 1, key), target)
                entries_of[key] = plan.reused[key]
                LOG.debug("generation %d: linked %s unchanged", generation, key)
            else:
                LOG.debug("generation %d: materialising %s", generation, key)
                entries, vectors = plan.groups[key]()
                LOG.debug("generation %d: writing %s (%d records)", generation, key, len(entries))
                write_segment(target, entries, vectors, n_trees=n_trees)
                entries_of[key] = tuple(entries)
                LOG.debug("generation %d: wrote %s", generation, key)
            built.append(PartitionManifest(key=key, count=len(entries_of[key])))
        if plan.expired:
            expired = staging / EXPIRED_FILE
            expired.write_text("".join(f"{e.record_id}\n" for _, e in plan.expired))
            fsync_path(expired)
        for child in staging.iterdir():
            fsync_path(child)
        fsync_path(staging)
        staging.rename(final)
        fsync_path(final.parent)
    except BaseException:
        remove_tree(staging)
        raise
    record = BuildRecord(
        generation=generation,
        folded_seq=folded_seq,
        committed_at=notes.committed_at,
        records=sum(p.count for p in built),
        expunged=notes.expunged,
        expired=len(plan.expired),
        reused=len(plan.reused),
    )
    manifest = Manifest(
        generation=generation,
        folded_seq=folded_seq,
        n_trees=n_trees,
        partitions=tuple(built),
        history=(*notes.previous, record),
    )
    return BuiltGeneration(manifest=manifest, entries=entries_of)


def warm_generation(
    directory: Path, built: BuiltGeneration, rebuilt: Iterable[PartitionKey]
) -> None:
    """Reads the index and vectors of each rebuilt segment once, so that they are in the page
    cache before the swap: the first searches on a new generation then do not wait for the
    disk page by page. `read` releases the GIL; searches go on meanwhile."""
    buffer = bytearray(_WARM_CHUNK)
    for key in rebuilt:
        folder = segment_dir(directory, built.manifest.generation, key)
        for name in (INDEX_FILE, VECTORS_FILE):
            with (folder / name).open("rb", buffering=0) as stream:
                while stream.readinto(buffer):
                    pass


def _link_segment(source: Path, target: Path) -> None:
    """Hard-links an unchanged segment's files into the generation being written."""
    target.mkdir(parents=True)
    for name in SEGMENT_FILES:
        os.link(source / name, target / name)
    fsync_path(target)


def load_generation(directory: Path, built: BuiltGeneration) -> dict[PartitionKey, Segment]:
    """Loads every segment of a generation just built, with the entries it was built from
    (no records.jsonl is parsed again); on failure the generation is deleted."""
    manifest = built.manifest
    segments: dict[PartitionKey, Segment] = {}
    try:
        for partition in manifest.partitions:
            segments[partition.key] = load_segment(
                segment_dir(directory, manifest.generation, partition.key),
                partition.key.modality,
                partition.count,
                entries=built.entries[partition.key],
            )
    except BaseException:
        for segment in segments.values():
            segment.close()
        remove_tree(generation_dir(directory, manifest.generation))
        raise
    return segments


def load_expired(directory: Path, generation: int) -> frozenset[str]:
    """The ids of the records generation `generation` left out because they were expired."""
    path = generation_dir(directory, generation) / EXPIRED_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError) as error:
        raise GalleryError(f"cannot read {path}: {error}") from error
    return frozenset(text.splitlines())


def collect_garbage(directory: Path, live_generation: int) -> None:
    """Deletes what an interrupted create or rebuild left: other generations, *.tmp files."""
    for leftover in directory.glob("*" + TMP_SUFFIX):
        leftover.unlink()
    generations = directory / GENERATIONS_DIR
    if generations.is_dir():
        for child in generations.iterdir():
            if child.name != str(live_generation):
                LOG.info("removing leftover %s", child)
                remove_tree(child)


def remove_tree(path: Path) -> None:
    """Deletes a directory tree (if present) and makes its removal durable."""
    if path.is_dir():
        shutil.rmtree(path)
        fsync_path(path.parent)
