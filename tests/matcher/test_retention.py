"""Expiry: a record past retain_until is never returned, and the next build drops it."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from matcher.gallery import Gallery
from matcher.generation import BuiltGeneration, build_generation
from tests.matcher.support import NOW, FakeClock, Population, filters, gallery_bytes


def _ids(gallery: Gallery, population: Population, probe_of: str, **values: Any) -> set[str]:
    results, _ = gallery.search("face", population.probe(probe_of), 50, -1.0, filters(**values))
    return {r.record_id for r in results}


def _traces(population: Population, record_id: str) -> list[bytes]:
    raw = population.records[record_id].template.astype("<f4").tobytes()
    return [raw, base64.b64encode(raw), record_id.encode()]


def test_expiry_takes_effect_by_the_gallery_clock_whatever_valid_at_says(
    make_gallery: Callable[..., Gallery], population: Population, clock: FakeClock
) -> None:
    soon = population.make("soon", "US", retain_until=NOW + timedelta(hours=1))
    later = population.make("later", "US", retain_until=NOW + timedelta(days=30))
    gallery = make_gallery(records=[soon, later])
    gallery.add(population.make("buffered-soon", "CL", retain_until=NOW + timedelta(hours=1)))
    assert _ids(gallery, population, "soon") == {"soon", "later", "buffered-soon"}
    clock.advance(timedelta(hours=1))  # retain_until == now: expired
    stale = NOW - timedelta(days=1)  # a caller sending an old instant changes nothing
    assert _ids(gallery, population, "soon", valid_at=stale) == {"later"}
    assert (
        gallery.compare("soon", "face", population.probe("soon"), filters(valid_at=stale)) is None
    )
    compared = gallery.compare("later", "face", population.probe("later"), filters(valid_at=stale))
    assert compared is not None
    assert gallery.outstanding() == 1 + 2  # one buffered add, two expired records
    directory = gallery.directory
    gallery.close()
    with Gallery.open(directory, clock=clock) as reopened:  # no rebuild: still filtered
        assert _ids(reopened, population, "soon", valid_at=stale) == {"later"}


def test_a_rebuild_drops_expired_records_from_every_file(
    make_gallery: Callable[..., Gallery], population: Population, clock: FakeClock
) -> None:
    gallery = make_gallery(
        records=[
            population.make("old", "US", retain_until=NOW + timedelta(days=1)),
            population.make("kept", "US"),
            population.make("other-origin", "CL"),
        ]
    )
    gallery.add(population.make("buffered-old", "US", retain_until=NOW + timedelta(days=1)))
    assert any(
        trace in data
        for data in gallery_bytes(gallery.directory).values()
        for trace in _traces(population, "old")
    )
    clock.advance(timedelta(days=2))
    gallery.rebuild()
    files = gallery_bytes(gallery.directory)
    for victim in ("old", "buffered-old"):
        for trace in _traces(population, victim)[:2]:
            assert not any(trace in data for data in files.values())
        assert gallery.get(victim) is None
        assert gallery.remove(victim).removed is False
    assert gallery.outstanding() == 0
    assert [(p.origin_jurisdiction, p.record_count) for p in gallery.partitions()] == [
        ("CL", 1),
        ("US", 1),
    ]
    build = gallery.history()[-1]
    assert (build.generation, build.expired, build.records, build.reused) == (2, 2, 2, 1)
    directory = gallery.directory
    gallery.close()
    with Gallery.open(directory, clock=clock) as reopened:
        assert reopened.get("old") is None
        assert reopened.get("kept") == population.records["kept"]


def test_create_leaves_out_records_already_expired(
    make_gallery: Callable[..., Gallery], population: Population
) -> None:
    gallery = make_gallery(
        records=[
            population.make("gone", "US", retain_until=NOW),
            population.make("here", "US"),
        ]
    )
    assert gallery.get("gone") is None
    assert [p.record_count for p in gallery.partitions()] == [1]
    assert gallery.history()[0].expired == 1
    assert gallery.history()[0].folded_seq == 2  # the dropped record kept its seq
    assert gallery.add(population.make("next", "US")) == 3


def test_an_expired_record_removed_while_the_rebuild_runs_survives_a_restart(
    make_gallery: Callable[..., Gallery],
    population: Population,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The build leaves it out as expired and the journal holds its removal: replay skips
    that removal instead of calling the gallery corrupt."""
    gallery = make_gallery(
        records=[
            population.make("short", "US", retain_until=NOW + timedelta(days=1)),
            population.make("long", "US"),
        ]
    )
    clock.advance(timedelta(days=2))
    gallery.add(population.make("fresh", "CL"))

    def build_while_removing(*args: Any, **kwargs: Any) -> BuiltGeneration:
        assert gallery.remove("short").removed  # still live in memory: not yet dropped
        gallery.add(population.make("short", "CL"))  # and enrolled again under its id
        return build_generation(*args, **kwargs)

    monkeypatch.setattr("matcher.gallery.build_generation", build_while_removing)
    gallery.rebuild()
    monkeypatch.undo()
    assert gallery.get("short") == population.records["short"]  # the new one
    directory = gallery.directory
    gallery.close()
    with Gallery.open(directory, clock=clock) as reopened:
        assert reopened.get("short") == population.records["short"]
        assert reopened.get("fresh") == population.records["fresh"]
        reopened.remove("short")
        reopened.rebuild()
        assert reopened.get("short") is None
    with Gallery.open(directory, clock=clock) as again:
        assert again.get("short") is None
        assert again.get("long") == population.records["long"]
