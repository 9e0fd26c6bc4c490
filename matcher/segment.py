"""The built part of one partition: its Annoy index, vectors and records, as files.

A segment directory holds three files, item i being row i / line i of each:
`index.ann` (Annoy, angular), `vectors.npy` (float32 unit vectors, used for the exact
re-rank) and `records.jsonl` (record id, journal seq of its addition, provenance).
Segments are written once, inside a generation that is not yet live, and never modified.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from matcher.codec import decode_provenance, encode_provenance
from matcher.durable import fsync_path
from matcher.errors import GalleryError, MatcherError
from matcher.index import ISOLATED_BUILD_MIN_ITEMS, AnnoyIndexFile
from matcher.records import RecordProvenance, check_record_id
from matcher.templates import DIMENSIONS

INDEX_FILE = "index.ann"
VECTORS_FILE = "vectors.npy"
RECORDS_FILE = "records.jsonl"


@dataclass(frozen=True)
class RecordEntry:
    """A record without its template: id, the journal seq that added it, provenance."""

    record_id: str
    seq: int
    provenance: RecordProvenance


@dataclass(frozen=True)
class Segment:
    """A loaded segment; `vectors` is a read-only memory map of `vectors.npy`."""

    index: AnnoyIndexFile
    vectors: np.ndarray
    entries: tuple[RecordEntry, ...]
    positions: Mapping[str, int]

    def close(self) -> None:
        """Unmaps the Annoy index (the vectors map goes with the last reference)."""
        self.index.close()


def write_segment(
    directory: Path,
    entries: Sequence[RecordEntry],
    vectors: np.ndarray,
    *,
    n_trees: int,
) -> None:
    """Writes a segment's three files durably into a new `directory`."""
    if len(entries) != vectors.shape[0] or not entries:
        raise GalleryError("a segment needs one vector per record and at least one record")
    directory.mkdir(parents=True)
    lines = [
        json.dumps(
            {"record_id": e.record_id, "seq": e.seq, "provenance": encode_provenance(e.provenance)},
            sort_keys=True,
        )
        for e in entries
    ]
    records_path = directory / RECORDS_FILE
    records_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fsync_path(records_path)
    vectors_path = directory / VECTORS_FILE
    with vectors_path.open("wb") as stream:
        np.save(stream, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        stream.flush()
        os.fsync(stream.fileno())
    if len(entries) >= ISOLATED_BUILD_MIN_ITEMS:
        AnnoyIndexFile.write_isolated(directory / INDEX_FILE, vectors_path, n_trees=n_trees)
    else:
        AnnoyIndexFile.write(directory / INDEX_FILE, vectors, n_trees=n_trees)
    fsync_path(directory)


def load_segment(
    directory: Path,
    modality: str,
    count: int,
    *,
    entries: tuple[RecordEntry, ...] | None = None,
) -> Segment:
    """Loads a segment and checks its three files agree with each other and the manifest.

    `entries`, when the caller just wrote the segment from them, saves parsing records.jsonl
    (seconds, and millions of objects, for a large partition); otherwise it is read.
    """
    dimension = DIMENSIONS[modality]
    if entries is None:
        entries = _load_entries(directory / RECORDS_FILE)
    if len(entries) != count:
        raise GalleryError(f"{directory}: {len(entries)} records, manifest says {count}")
    try:
        vectors = np.load(directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as error:
        raise GalleryError(f"{directory}: cannot load {VECTORS_FILE}: {error}") from error
    if vectors.dtype != np.float32 or vectors.shape != (count, dimension):
        raise GalleryError(
            f"{directory}: {VECTORS_FILE} is {vectors.dtype} {vectors.shape}, "
            f"expected float32 ({count}, {dimension})"
        )
    index = AnnoyIndexFile.load(directory / INDEX_FILE, dimension, count)
    positions = {entry.record_id: i for i, entry in enumerate(entries)}
    if len(positions) != count:
        index.close()
        raise GalleryError(f"{directory}: duplicate record ids in {RECORDS_FILE}")
    return Segment(index=index, vectors=vectors, entries=entries, positions=positions)


def _load_entries(path: Path) -> tuple[RecordEntry, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise GalleryError(f"cannot read {path}: {error}") from error
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            document = json.loads(line)
            record_id = check_record_id("record_id", document["record_id"])
            seq = document["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise GalleryError(f"seq {seq!r} is not a positive integer")
            provenance = decode_provenance(document["provenance"])
        except (ValueError, KeyError, TypeError, MatcherError) as error:
            raise GalleryError(f"{path}:{number}: {error}") from error
        entries.append(RecordEntry(record_id=record_id, seq=seq, provenance=provenance))
    return tuple(entries)
