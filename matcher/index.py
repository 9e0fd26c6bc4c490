"""Annoy wrapper: build an index from vectors into a file, mmap-load it, query candidates.

An Annoy index is immutable here. `add_item` on a built index is accepted silently, corrupts
tree memory and later segfaults (see DESIGN.md), so the only way to write an index is
`AnnoyIndexFile.write`, which builds a fresh one from all of its vectors and never keeps the
builder; new records go to the partition's exact buffer until the next rebuild.

Large indexes are built in a child process (`write_isolated`, matcher/index_build.py): the
Python loop that feeds Annoy its items, and Annoy's `save`, hold the GIL, which in the
serving process would stall every search thread while a background rebuild runs. The
child produces the same bytes (same seed, same items).
"""

from __future__ import annotations

import os
import subprocess
import sys
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
# Items from which a build runs in a child process: below it the GIL is held for well under
# a second in all, which searches absorb; above it they would stall (README, benchmarks).
ISOLATED_BUILD_MIN_ITEMS = 20_000
# Keeps this much of a failed child's stderr in the error (the rest is in its output).
_STDERR_TAIL = 2_000
# Where the `matcher` package lives, so the child imports this very code.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


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

    @staticmethod
    def write_isolated(path: Path, vectors_file: Path, *, n_trees: int) -> None:
        """Like `write`, from the float32 rows of a `.npy` file, in a child process."""
        command = [
            sys.executable,
            "-m",
            "matcher.index_build",
            str(vectors_file),
            str(path),
            str(n_trees),
        ]
        search_path = [str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, search_path))}
        completed = subprocess.run(
            command, capture_output=True, text=True, env=environment, check=False
        )
        if completed.returncode != 0:
            path.unlink(missing_ok=True)
            detail = completed.stderr.strip()[-_STDERR_TAIL:]
            raise GalleryError(f"building {path} in a child process failed: {detail}")

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
