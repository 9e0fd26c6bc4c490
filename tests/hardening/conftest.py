"""One real matcher process over the demo gallery, shared by the hardening tests; each test
starts the broker it needs in front of it (tests/hardening/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from broker.demo.gallery import DemoGallery, build_demo_gallery
from broker.launch import ServerProcess, start_matcher


@pytest.fixture(scope="package")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> DemoGallery:
    return build_demo_gallery(tmp_path_factory.mktemp("hardening-gallery") / "gallery")


@pytest.fixture(scope="package")
def matcher(
    gallery: DemoGallery, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    run = tmp_path_factory.mktemp("hardening-run")
    with start_matcher(gallery.directory, run / "m.sock", run / "matcher.log") as process:
        yield process
