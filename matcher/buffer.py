"""Records added since the last build, searched exactly (no index) until the next rebuild."""

from __future__ import annotations

import numpy as np

from matcher.segment import RecordEntry
from matcher.templates import Template

_INITIAL_ROWS = 16


class ExactBuffer:
    """A growable float32 matrix of unit vectors with the entries they belong to.

    Not thread-safe on its own: the gallery's read/write lock guards it.
    """

    def __init__(self, dimension: int) -> None:
        self._matrix = np.empty((_INITIAL_ROWS, dimension), dtype=np.float32)
        self._entries: list[RecordEntry] = []
        self._rows: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._rows

    def add(self, entry: RecordEntry, vector: Template) -> None:
        """Appends a record; the caller has checked its id is not present."""
        count = len(self._entries)
        if count == self._matrix.shape[0]:
            grown = np.empty((count * 2, self._matrix.shape[1]), dtype=np.float32)
            grown[:count] = self._matrix
            self._matrix = grown
        self._matrix[count] = vector
        self._entries.append(entry)
        self._rows[entry.record_id] = count

    def remove(self, record_id: str) -> bool:
        """Drops a record by moving the last row into its place; False when absent."""
        row = self._rows.pop(record_id, None)
        if row is None:
            return False
        last = len(self._entries) - 1
        if row != last:
            moved = self._entries[last]
            self._entries[row] = moved
            self._matrix[row] = self._matrix[last]
            self._rows[moved.record_id] = row
        self._entries.pop()
        return True

    def get(self, record_id: str) -> tuple[RecordEntry, Template] | None:
        """Returns the entry and a copy of its vector, or None."""
        row = self._rows.get(record_id)
        if row is None:
            return None
        return self._entries[row], self._matrix[row].copy()

    def entries(self) -> tuple[RecordEntry, ...]:
        """The buffered entries, row i being entry i."""
        return tuple(self._entries)

    def vectors(self) -> np.ndarray:
        """A copy of the buffered vectors, row i belonging to entry i."""
        return self._matrix[: len(self._entries)].copy()

    def scores(self, probe: Template) -> np.ndarray:
        """Exact cosine similarity (float64) of the probe with every buffered vector."""
        rows = self._matrix[: len(self._entries)]
        return rows.astype(np.float64) @ probe.astype(np.float64)
