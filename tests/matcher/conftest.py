"""Fixtures for the matcher tests: real galleries on disk, synthetic templates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from matcher.gallery import Gallery
from tests.matcher.support import ORIGINS, FakeClock, Population


@pytest.fixture
def population() -> Population:
    return Population()


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the galleries `built` and `make_gallery` create; it starts at NOW."""
    return FakeClock()


@pytest.fixture
def built(
    tmp_path: Path, population: Population, clock: FakeClock
) -> Iterator[tuple[Gallery, Population]]:
    """A gallery of 160 face records (40 per origin, built) + 20 fingerprint + 12 buffered."""
    initial = [population.make(f"f{i:03d}", ORIGINS[i % 4]) for i in range(160)]
    initial += [population.make(f"p{i:03d}", ORIGINS[i % 2], "fingerprint") for i in range(20)]
    gallery = Gallery.create(tmp_path / "gallery", records=initial, clock=clock)
    for i in range(12):
        gallery.add(population.make(f"b{i:03d}", ORIGINS[i % 4]))
    yield gallery, population
    gallery.close()


@pytest.fixture
def make_gallery(tmp_path: Path, clock: FakeClock) -> Iterator[Callable[..., Gallery]]:
    """Creates galleries under tmp_path (on `clock` unless told) and closes them after."""
    opened: list[Gallery] = []

    def make(name: str = "gallery", **kwargs: Any) -> Gallery:
        kwargs.setdefault("clock", clock)
        gallery = Gallery.create(tmp_path / name, **kwargs)
        opened.append(gallery)
        return gallery

    yield make
    for gallery in opened:
        gallery.close()
