"""Annoy wrapper: build an index from vectors into a file, mmap-load it, query candidates.

An Annoy index is immutable here. `add_item` on a built index is accepted silently, corrupts
tree memory and later segfaults (see DESIGN.md), so the only way to write an index is
`AnnoyIndexFile.write`, which builds a fresh one from all of its vectors and never keeps the
builder; new records go to the partition's exact buffer until the next rebuild.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import annoy
import numpy as np

from matcher.durable import fsync_path
from matcher.errors import GalleryClosedError, GalleryError
from matcher.templates import Template

METRIC: Final = "angular"
# Fixed so that building the same records yields the same trees and the same candidates.
SEED = 1_729
# Threads used to build trees. One: Annoy's multi-threaded build is not reproducible even
# with a fixed seed, and a background rebuild should leave the other cores to searches.
BUILD_JOBS = 1


class AnnoyIndexFile:
    """A built, read-only Annoy index memory-mapped from its file (lazy: loading is cheap)."""

    def __init__(self, handle: annoy.AnnoyIndex, dimension: int, size: int) -> None:
        self._handle: annoy.AnnoyIndex | None = handle
        self.dimension = dimension
        self.size = size
        self.trees = int(handle.get_n_trees())

    @staticmethod
    def write(path: Path, vectors: np.ndarray, *, n_trees: int) -> None:
        """Builds an index of `vectors` (item i = row i) and writes it durably to `path`."""
        count, dimension = vectors.shape
        if count == 0:
            raise GalleryError("refusing to build an Annoy index with no items")
        builder = annoy.AnnoyIndex(dimension, METRIC)
        builder.set_seed(SEED)
        for item, row in enumerate(vectors):
            builder.add_item(item, row.tolist())
        builder.build(n_trees, n_jobs=BUILD_JOBS)
        if not builder.save(str(path)):
            raise GalleryError(f"Annoy could not save {path}")
        builder.unload()
        fsync_path(path)

    @classmethod
    def load(cls, path: Path, dimension: int, expected_size: int) -> AnnoyIndexFile:
        """Memory-maps an index and checks it holds exactly `expected_size` items."""
        handle = annoy.AnnoyIndex(dimension, METRIC)
        try:
            handle.load(str(path))
        except OSError as error:
            raise GalleryError(f"cannot load Annoy index {path}: {error}") from error
        size = int(handle.get_n_items())
        if size != expected_size:
            handle.unload()
            raise GalleryError(f"Annoy index {path} has {size} items, expected {expected_size}")
        return cls(handle, dimension, size)

    def candidates(self, probe: Template, count: int, search_k: int) -> list[int]:
        """Returns up to `count` item numbers nearest to `probe` (approximately)."""
        if self._handle is None:
            raise GalleryClosedError("the Annoy index was closed")
        if count <= 0:
            return []
        items: list[int] = self._handle.get_nns_by_vector(probe.tolist(), count, search_k=search_k)
        return items

    def close(self) -> None:
        """Unmaps the index; callers must ensure no query is running (the gallery's lock)."""
        if self._handle is not None:
            self._handle.unload()
            self._handle = None
