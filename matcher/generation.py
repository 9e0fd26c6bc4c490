"""Generations on disk: write one complete and durable, load one, delete leftovers.

A generation is a directory of segments, one per partition (matcher/segment.py). It is
written under `<G>.tmp`, fsynced and renamed to `<G>`, and only becomes live when the
manifest names it (matcher/manifest.py), so a crash at any point leaves the live generation
intact and at most a leftover that `collect_garbage` deletes on the next open.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from matcher.durable import TMP_SUFFIX, fsync_path
from matcher.manifest import (
    GENERATIONS_DIR,
    Manifest,
    PartitionManifest,
    generation_dir,
    segment_dir,
)
from matcher.partition import PartitionKey, PartitionSnapshot
from matcher.records import GalleryRecord
from matcher.segment import RecordEntry, Segment, load_segment, write_segment

LOG = logging.getLogger(__name__)

Groups = dict[PartitionKey, tuple[list[RecordEntry], np.ndarray]]


def group_new_records(records: list[GalleryRecord]) -> Groups:
    """Groups new records by partition, giving them seqs 1..n in the order given."""
    entries: dict[PartitionKey, list[RecordEntry]] = {}
    vectors: dict[PartitionKey, list[np.ndarray]] = {}
    for seq, record in enumerate(records, start=1):
        key = PartitionKey(record.modality, record.provenance.origin_jurisdiction)
        entries.setdefault(key, []).append(RecordEntry(record.record_id, seq, record.provenance))
        vectors.setdefault(key, []).append(record.template)
    return {key: (entries[key], np.stack(vectors[key])) for key in entries}


def group_snapshots(snapshots: list[PartitionSnapshot]) -> Groups:
    """Materialises each snapshot's live records; partitions with none are dropped."""
    groups: Groups = {}
    for snapshot in snapshots:
        entries, vectors = snapshot.materialise()
        if entries:
            groups[snapshot.key] = (entries, vectors)
    return groups


def build_generation(
    directory: Path,
    *,
    generation: int,
    folded_seq: int,
    n_trees: int,
    groups: Groups,
) -> Manifest:
    """Writes a complete generation under a temporary name, then renames it into place."""
    final = generation_dir(directory, generation)
    staging = final.with_name(final.name + TMP_SUFFIX)
    remove_tree(staging)
    remove_tree(final)
    staging.mkdir(parents=True)
    try:
        built = []
        for key in sorted(groups):
            entries, vectors = groups[key]
            write_segment(staging / key.modality / key.origin, entries, vectors, n_trees=n_trees)
            built.append(PartitionManifest(key=key, count=len(entries)))
        for modality_dir in staging.iterdir():
            fsync_path(modality_dir)
        fsync_path(staging)
        staging.rename(final)
        fsync_path(final.parent)
    except BaseException:
        remove_tree(staging)
        raise
    return Manifest(
        generation=generation,
        folded_seq=folded_seq,
        n_trees=n_trees,
        partitions=tuple(built),
    )


def load_generation(directory: Path, manifest: Manifest) -> dict[PartitionKey, Segment]:
    """Loads every segment the manifest names; on failure the generation is deleted."""
    segments: dict[PartitionKey, Segment] = {}
    try:
        for built in manifest.partitions:
            segments[built.key] = load_segment(
                segment_dir(directory, manifest.generation, built.key),
                built.key.modality,
                built.count,
            )
    except BaseException:
        for segment in segments.values():
            segment.close()
        remove_tree(generation_dir(directory, manifest.generation))
        raise
    return segments


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
