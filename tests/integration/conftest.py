"""Real processes: a matcher over a real Annoy gallery and a broker with the embedded OPA
engine, started on a Unix socket and a free loopback port, stopped after the tests."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.demo.environment import DemoEnvironment, start_environment


@pytest.fixture(scope="package")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    with start_environment(tmp_path_factory.mktemp("deployment")) as environment:
        yield environment


@pytest.fixture
def own_env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    """A deployment of its own, for tests that break something."""
    with start_environment(tmp_path / "d") as environment:
        yield environment
