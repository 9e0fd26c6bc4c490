"""Fixtures for the matcher tests: real galleries on disk, synthetic templates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from matcher.gallery import Gallery
from tests.matcher.support import ORIGINS, Population


@pytest.fixture
def population() -> Population:
    return Population()


@pytest.fixture
def built(tmp_path: Path, population: Population) -> Iterator[tuple[Gallery, Population]]:
    """A gallery of 160 face records (40 per origin, built) + 20 fingerprint + 12 buffered."""
    initial = [population.make(f"f{i:03d}", ORIGINS[i % 4]) for i in range(160)]
    initial += [population.make(f"p{i:03d}", ORIGINS[i % 2], "fingerprint") for i in range(20)]
    gallery = Gallery.create(tmp_path / "gallery", records=initial)
    for i in range(12):
        gallery.add(population.make(f"b{i:03d}", ORIGINS[i % 4]))
    yield gallery, population
    gallery.close()


@pytest.fixture
def make_gallery(tmp_path: Path) -> Iterator[Callable[..., Gallery]]:
    """Creates galleries under tmp_path and closes them after the test."""
    opened: list[Gallery] = []

    def make(name: str = "gallery", **kwargs: Any) -> Gallery:
        gallery = Gallery.create(tmp_path / name, **kwargs)
        opened.append(gallery)
        return gallery

    yield make
    for gallery in opened:
        gallery.close()
