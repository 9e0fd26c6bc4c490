"""The verified-token cache: only tokens that verified are remembered, by their exact bytes,
until their `exp` or a minute, whichever is first; the table is bounded."""

from __future__ import annotations

import time

import pytest

from broker.authn.jwt_verifier import TokenVerifier, TrustedIssuer
from broker.authn.token_cache import MAX_AGE_SECONDS, VerifiedTokens
from broker.config import IssuerConfig
from broker.errors import AuthenticationError
from broker.models import Principal
from tests.hardening.harness import ATTACKS, AUDIENCE, ISSUER, VECTORS, mint

OFFICER = Principal("test-agency", "officer.one", ("investigator",), "US", "US")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingKeys:
    """The issuer's file key set, counting lookups (one per full verification)."""

    def __init__(self) -> None:
        self._keys = TrustedIssuer.from_config(IssuerConfig(ISSUER, VECTORS / "issuer.jwks.json"))
        self.lookups = 0

    def key(self, kid: str):
        self.lookups += 1
        return self._keys.keys.key(kid)


def test_a_reused_token_is_verified_once_then_served_from_the_cache() -> None:
    keys = CountingKeys()
    verifier = TokenVerifier(
        [TrustedIssuer(ISSUER, keys, ("EdDSA",))],
        audience=AUDIENCE,
        leeway=30,
        cache=VerifiedTokens(),
    )
    token = mint()
    assert all(verifier.verify(token).officer == "officer.one" for _ in range(5))
    assert keys.lookups == 1
    verifier.verify(mint())  # another token: verified on its own
    assert keys.lookups == 2


def test_failures_are_never_cached() -> None:
    keys = CountingKeys()
    verifier = TokenVerifier(
        [TrustedIssuer(ISSUER, keys, ("EdDSA",))],
        audience=AUDIENCE,
        leeway=30,
        cache=VerifiedTokens(),
    )
    forged = (ATTACKS / "tampered_payload.jwt").read_text().strip()
    for _ in range(3):
        with pytest.raises(AuthenticationError):
            verifier.verify(forged)
    assert keys.lookups == 3


def test_an_entry_lives_until_exp_or_a_minute_whichever_is_first() -> None:
    clock = Clock(1_000_000.0)
    cache = VerifiedTokens(clock=clock)
    cache.put("long-lived", OFFICER, expires_at=clock.now + 3600)
    cache.put("expiring", OFFICER, expires_at=clock.now + 10)
    clock.now += 9.9
    assert cache.get("expiring") == OFFICER
    clock.now += 0.1
    assert cache.get("expiring") is None  # at exp: not served, even within the leeway
    assert cache.get("long-lived") == OFFICER
    clock.now += MAX_AGE_SECONDS
    assert cache.get("long-lived") is None  # a withdrawn key stops working within a minute


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("broker.authn.token_cache.MAX_ENTRIES", 3)
    cache = VerifiedTokens()
    for i in range(5):
        cache.put(f"t{i}", OFFICER, expires_at=time.time() + 300)
    assert len(cache) == 3
    assert cache.get("t0") is None and cache.get("t4") == OFFICER
