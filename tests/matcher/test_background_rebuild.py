"""Background rebuilds start when enough changes are pending, and keep the gallery serving."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import grpc
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc

from matcher.config import MatcherConfig
from matcher.gallery import Gallery
from matcher.rebuild import BackgroundRebuilder
from matcher.server import serve
from tests.matcher.support import NOW, FakeClock, Population, filters

WAIT = 60.0  # a safety net against hanging, not a timing assertion


def test_rebuilds_when_the_threshold_is_reached(
    make_gallery: Callable[..., Gallery], population: Population
) -> None:
    gallery = make_gallery(records=[population.make(f"a{i}", "US") for i in range(20)])
    rebuilder = BackgroundRebuilder(gallery, threshold=3)
    rebuilder.start()
    try:
        for i in range(2):
            gallery.add(population.make(f"n{i}", "CL"))
            rebuilder.notify()
        assert rebuilder.completed == 0
        assert gallery.pending_changes() == 2
        gallery.remove("a0")
        rebuilder.notify()
        assert rebuilder.wait_for(1, WAIT)
        assert gallery.pending_changes() == 0
        results, _ = gallery.search("face", population.probe("n1"), 1, -1.0, filters())
        assert results[0].record_id == "n1"
        assert gallery.get("a0") is None
    finally:
        rebuilder.stop()


def test_threshold_zero_never_rebuilds(
    make_gallery: Callable[..., Gallery], population: Population
) -> None:
    gallery = make_gallery()
    rebuilder = BackgroundRebuilder(gallery, threshold=0)
    rebuilder.start()
    gallery.add(population.make("x", "US"))
    rebuilder.notify()
    rebuilder.stop()
    assert rebuilder.completed == 0
    assert gallery.pending_changes() == 1


def test_the_server_rebuilds_after_adds(tmp_path: Path, population: Population) -> None:
    running = serve(
        MatcherConfig(
            gallery_dir=tmp_path / "g", listen=f"unix:{tmp_path}/s.sock", rebuild_threshold=2
        )
    )
    try:
        with grpc.insecure_channel(running.address) as channel:
            stub = matcher_pb2_grpc.MatcherStub(channel)
            for i in range(2):
                record = population.make(f"s{i}", "US")
                provenance = matcher_pb2.Provenance(origin_jurisdiction="US", source_agency="a")
                provenance.captured_at.FromDatetime(NOW - timedelta(days=1))
                provenance.retain_until.FromDatetime(NOW + timedelta(days=3650))
                stub.Add(
                    matcher_pb2.AddRequest(
                        record_id=record.record_id,
                        modality=matcher_pb2.MODALITY_FACE,
                        template=record.template.tolist(),
                        provenance=provenance,
                    ),
                    timeout=10,
                )
        assert running.rebuilder.wait_for(1, WAIT)
        assert running.gallery.pending_changes() == 0
        assert [p.record_count for p in running.gallery.partitions()] == [2]
    finally:
        running.stop(grace=None)


def test_the_purge_interval_rebuilds_a_quiet_gallery(
    make_gallery: Callable[..., Gallery], population: Population, clock: FakeClock
) -> None:
    """Below the threshold, a removal and an expiry still leave the disk at the interval."""
    gallery = make_gallery(
        records=[
            population.make("a", "US"),
            population.make("short", "CL", retain_until=NOW + timedelta(days=1)),
        ]
    )
    seq = gallery.remove("a").journal_seq
    clock.advance(timedelta(days=2))
    rebuilder = BackgroundRebuilder(gallery, threshold=1_000, interval=0.01)
    rebuilder.start()
    try:
        assert rebuilder.wait_for(1, WAIT)
    finally:
        rebuilder.stop()
    assert gallery.purge_status(seq).purged
    assert gallery.outstanding() == 0
    assert gallery.partitions() == []
    assert gallery.history()[1].expunged == 1
    assert gallery.history()[1].expired == 1
