"""Fixtures for the policy tests: the shipped library, its engine, and copies of it to break."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.policy.bundle import PolicyBundle
from broker.policy.embedded import EmbeddedEngine
from tests.policy.scenario import POLICIES_DIR


@pytest.fixture(scope="session")
def bundle() -> PolicyBundle:
    return PolicyBundle.load(POLICIES_DIR)


@pytest.fixture(scope="session")
def engine(bundle: PolicyBundle) -> Iterator[EmbeddedEngine]:
    engine = EmbeddedEngine(bundle)
    yield engine
    engine.close()


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A private copy of the shipped library, to edit."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target)
    return target
