"""The Annoy wrapper: build into a file, load by mmap, check sizes, query candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matcher.errors import GalleryClosedError, GalleryError
from matcher.index import AnnoyIndexFile


def _vectors(count: int, dimension: int = 192) -> np.ndarray:
    rows = np.random.default_rng(4).standard_normal((count, dimension))
    units: np.ndarray = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return units


def test_build_load_and_query(tmp_path: Path) -> None:
    vectors = _vectors(300)
    path = tmp_path / "index.ann"
    AnnoyIndexFile.write(path, vectors, n_trees=5)
    index = AnnoyIndexFile.load(path, 192, 300)
    assert (index.size, index.trees, index.dimension) == (300, 5, 192)
    for item in (0, 17, 299):
        assert index.candidates(vectors[item], 10, 10_000)[0] == item
    assert len(index.candidates(vectors[0], 1000, 100_000)) == 300
    assert index.candidates(vectors[0], 0, 100) == []
    index.close()
    with pytest.raises(GalleryClosedError):
        index.candidates(vectors[0], 1, 100)
    index.close()  # idempotent


def test_the_same_vectors_give_the_same_file(tmp_path: Path) -> None:
    vectors = _vectors(200)
    AnnoyIndexFile.write(tmp_path / "a.ann", vectors, n_trees=4)
    AnnoyIndexFile.write(tmp_path / "b.ann", vectors, n_trees=4)
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()


def test_load_checks_size_and_format(tmp_path: Path) -> None:
    path = tmp_path / "index.ann"
    AnnoyIndexFile.write(path, _vectors(50), n_trees=2)
    with pytest.raises(GalleryError, match="has 50 items, expected 51"):
        AnnoyIndexFile.load(path, 192, 51)
    with pytest.raises(GalleryError, match="cannot load"):
        AnnoyIndexFile.load(path, 512, 50)  # wrong dimension
    with pytest.raises(GalleryError, match="cannot load"):
        AnnoyIndexFile.load(tmp_path / "absent.ann", 192, 50)


def test_an_empty_index_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="no items"):
        AnnoyIndexFile.write(tmp_path / "x.ann", np.empty((0, 192), dtype=np.float32), n_trees=1)
    assert not (tmp_path / "x.ann").exists()


def test_a_build_in_a_child_process_writes_the_same_file(tmp_path: Path) -> None:
    vectors = _vectors(300)
    np.save(tmp_path / "vectors.npy", vectors)
    AnnoyIndexFile.write(tmp_path / "here.ann", vectors, n_trees=3)
    AnnoyIndexFile.write_isolated(tmp_path / "child.ann", tmp_path / "vectors.npy", n_trees=3)
    assert (tmp_path / "child.ann").read_bytes() == (tmp_path / "here.ann").read_bytes()


def test_a_failed_child_build_leaves_no_index_and_says_why(tmp_path: Path) -> None:
    np.save(tmp_path / "wrong.npy", np.zeros((3, 3), dtype=np.float64))
    with pytest.raises(GalleryError, match="expected a 2-d float32 array"):
        AnnoyIndexFile.write_isolated(tmp_path / "x.ann", tmp_path / "wrong.npy", n_trees=2)
    with pytest.raises(GalleryError, match=r"absent\.npy"):
        AnnoyIndexFile.write_isolated(tmp_path / "x.ann", tmp_path / "absent.npy", n_trees=2)
    assert not (tmp_path / "x.ann").exists()
