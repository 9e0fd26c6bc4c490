"""Fixtures for the audit tests: published vectors and deterministic keys."""

from __future__ import annotations

import hashlib

import pytest

from broker.keys import SigningKey
from tests.audit.audit_helpers import load_vector


@pytest.fixture
def rfc8037_key() -> SigningKey:
    return SigningKey.from_private_jwk(load_vector("rfc8037.json")["private_jwk"])


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(b"broker audit test key").digest())


@pytest.fixture
def other_key() -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(b"another key").digest())
