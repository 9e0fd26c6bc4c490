"""One (modality, origin) partition: built segment + exact buffer + tombstones.

Search = Annoy candidates from the segment (minus tombstones) plus every buffered record,
filtered, then scored by EXACT cosine similarity from the stored float32 vectors and ranked
by (score desc, record_id asc), so the order is deterministic. When tombstones or filters
reject so many candidates that fewer than k pass, the candidate window grows (4 times) until
k pass, the window covers the whole segment, or the worst candidate already scores below
min_score.

Not thread-safe on its own: the gallery holds its read lock around searches and its write
lock around mutations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from matcher.buffer import ExactBuffer
from matcher.records import MatchResult, SearchFilters
from matcher.segment import RecordEntry, Segment
from matcher.templates import DIMENSIONS, Template

# Annoy candidates fetched per wanted result, and the floor: the exact re-rank of a few
# hundred float32 vectors costs far less than missing the mate.
CANDIDATE_FACTOR = 10
MIN_CANDIDATES = 100
# How much the candidate window grows when filters or tombstones reject too many.
WINDOW_GROWTH = 4


@dataclass(frozen=True, order=True)
class PartitionKey:
    """A partition's identity; rendered "modality/origin" in search responses."""

    modality: str
    origin: str

    def __str__(self) -> str:
        return f"{self.modality}/{self.origin}"


@dataclass(frozen=True)
class PartitionSnapshot:
    """A partition's live records at one journal seq, for a rebuild outside the locks.

    The segment is immutable and stays loaded until the rebuild that took the snapshot swaps
    it out, so `materialise` may read it without holding any lock. Records past retain_until
    at the snapshot's instant are left out and listed in `expired`. `unchanged` means the
    segment holds exactly the live records, so a rebuild may reuse it as it is.
    """

    key: PartitionKey
    segment: Segment | None
    live_positions: tuple[int, ...]
    buffer_entries: tuple[RecordEntry, ...]
    buffer_vectors: np.ndarray
    expired: tuple[RecordEntry, ...] = ()
    unchanged: bool = False

    def materialise(self) -> tuple[list[RecordEntry], np.ndarray]:
        """Returns the live entries (in journal order) and their vectors, row i = entry i."""
        entries: list[RecordEntry] = list(self.buffer_entries)
        blocks = [self.buffer_vectors]
        if self.segment is not None and self.live_positions:
            positions = np.asarray(self.live_positions, dtype=np.int64)
            entries = [self.segment.entries[p] for p in self.live_positions] + entries
            blocks.insert(0, np.asarray(self.segment.vectors[positions], dtype=np.float32))
        vectors = np.concatenate(blocks)
        order = sorted(range(len(entries)), key=lambda i: entries[i].seq)
        return [entries[i] for i in order], vectors[order]


class Partition:
    """The records of one (modality, origin): a built segment, a buffer and tombstones."""

    def __init__(self, key: PartitionKey, segment: Segment | None = None) -> None:
        self.key = key
        self._segment = segment
        self._tombstones: set[int] = set()
        self._buffer = ExactBuffer(DIMENSIONS[key.modality])

    def __len__(self) -> int:
        built = 0 if self._segment is None else len(self._segment.entries)
        return built - len(self._tombstones) + len(self._buffer)

    @property
    def pending_changes(self) -> int:
        """Buffered additions plus tombstones: the work a rebuild would fold in."""
        return len(self._buffer) + len(self._tombstones)

    def add(self, entry: RecordEntry, vector: Template) -> None:
        """Buffers a new record (never touches the built index; see matcher/index.py)."""
        self._buffer.add(entry, vector)

    def remove(self, record_id: str) -> bool:
        """Removes a live record: dropped from the buffer, or tombstoned in the segment."""
        if self._buffer.remove(record_id):
            return True
        position = self._live_position(record_id)
        if position is None:
            return False
        self._tombstones.add(position)
        return True

    def buffered_after(self, seq: int) -> list[tuple[RecordEntry, Template]]:
        """Buffered records added after journal seq `seq`, with copies of their vectors."""
        vectors = self._buffer.vectors()
        return [
            (entry, vectors[row])
            for row, entry in enumerate(self._buffer.entries())
            if entry.seq > seq
        ]

    def tombstone(self, positions: Iterable[int]) -> None:
        """Marks segment items as removed (used when a rebuild swaps in a new segment)."""
        self._tombstones.update(positions)

    def get(self, record_id: str) -> tuple[RecordEntry, Template] | None:
        """The live record's entry and a copy of its vector, or None."""
        buffered = self._buffer.get(record_id)
        if buffered is not None:
            return buffered
        position = self._live_position(record_id)
        if position is None or self._segment is None:
            return None
        vector = np.array(self._segment.vectors[position], dtype=np.float32)
        return self._segment.entries[position], vector

    def snapshot(self, now: datetime) -> PartitionSnapshot:
        """The live records as of now, minus those expired at `now`; no segment vector is
        copied."""
        live: list[int] = []
        expired: list[RecordEntry] = []
        if self._segment is not None:
            for position, entry in enumerate(self._segment.entries):
                if position in self._tombstones:
                    continue
                if entry.provenance.expired(now):
                    expired.append(entry)
                else:
                    live.append(position)
        rows: list[int] = []
        buffered = self._buffer.entries()
        for row, entry in enumerate(buffered):
            if entry.provenance.expired(now):
                expired.append(entry)
            else:
                rows.append(row)
        return PartitionSnapshot(
            key=self.key,
            segment=self._segment,
            live_positions=tuple(live),
            buffer_entries=tuple(buffered[row] for row in rows),
            buffer_vectors=self._buffer.vectors()[rows],
            expired=tuple(expired),
            unchanged=self._segment is not None and self.pending_changes == 0 and not expired,
        )

    def expired_count(self, now: datetime) -> int:
        """Live records past retain_until at `now`: never returned, dropped by a rebuild."""
        count = sum(1 for entry in self._buffer.entries() if entry.provenance.expired(now))
        if self._segment is not None:
            count += sum(
                1
                for position, entry in enumerate(self._segment.entries)
                if entry.provenance.expired(now) and position not in self._tombstones
            )
        return count

    def search(
        self,
        probe: Template,
        k: int,
        min_score: float,
        filters: SearchFilters,
        search_k: int,
    ) -> list[MatchResult]:
        """The best k records passing the filters with score >= min_score, best first."""
        results: list[MatchResult] = []
        buffered = self._buffer.entries()
        if buffered:
            scores = self._buffer.scores(probe)
            results.extend(_passing(buffered, scores, min_score, filters))
        if self._segment is not None:
            results.extend(
                self._search_segment(
                    self._segment,
                    probe=probe,
                    k=k,
                    min_score=min_score,
                    filters=filters,
                    search_k=search_k,
                )
            )
        return rank(results, k)

    def close(self) -> None:
        """Unmaps the segment's index."""
        if self._segment is not None:
            self._segment.close()

    def _live_position(self, record_id: str) -> int | None:
        if self._segment is None:
            return None
        position = self._segment.positions.get(record_id)
        if position is None or position in self._tombstones:
            return None
        return position

    def _search_segment(
        self,
        segment: Segment,
        *,
        probe: Template,
        k: int,
        min_score: float,
        filters: SearchFilters,
        search_k: int,
    ) -> list[MatchResult]:
        size = segment.index.size
        window = min(size, max(k * CANDIDATE_FACTOR, MIN_CANDIDATES))
        while True:
            # Annoy inspects search_k nodes; a window larger than that needs more.
            budget = max(search_k, window * segment.index.trees)
            items = [
                item
                for item in segment.index.candidates(probe, window, budget)
                if item not in self._tombstones
            ]
            scores = _exact_scores(segment.vectors, items, probe)
            entries = [segment.entries[item] for item in items]
            passing = list(_passing(entries, scores, min_score, filters))
            exhausted = window >= size
            below_threshold = bool(scores.size) and float(scores.min()) < min_score
            if len(passing) >= k or exhausted or below_threshold:
                return passing
            window = min(size, window * WINDOW_GROWTH)


def _exact_scores(vectors: np.ndarray, items: list[int], probe: Template) -> np.ndarray:
    if not items:
        return np.empty(0, dtype=np.float64)
    rows = np.asarray(vectors[np.asarray(items, dtype=np.int64)], dtype=np.float64)
    return rows @ probe.astype(np.float64)


def _passing(
    entries: Iterable[RecordEntry],
    scores: np.ndarray,
    min_score: float,
    filters: SearchFilters,
) -> Iterable[MatchResult]:
    for entry, raw in zip(entries, scores.tolist(), strict=True):
        score = as_wire_score(raw)
        if score >= min_score and filters.admits(entry.provenance):
            yield MatchResult(record_id=entry.record_id, score=score, provenance=entry.provenance)


def as_wire_score(raw: float) -> float:
    """Clamps to [-1, 1] and rounds to float32, so ranking agrees with the proto's floats."""
    return float(np.float32(min(1.0, max(-1.0, raw))))


def rank(results: Iterable[MatchResult], k: int) -> list[MatchResult]:
    """Best first, ties broken by record_id; at most k."""
    return sorted(results, key=lambda r: (-r.score, r.record_id))[:k]
