"""Issuer keys from a JWKS URL, against a real HTTP server on 127.0.0.1: caching, rotation,
refresh throttling, failing closed, and the responses that must never be trusted.

Time is a fake clock handed to the key set; nothing here sleeps or measures time."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.authn.jwks import (
    MAX_JWKS_BYTES,
    MAX_STALE_SECONDS,
    MIN_REFRESH_SECONDS,
    JwksError,
    UrlKeySet,
    parse_jwks,
)
from broker.authn.jwt_verifier import TokenVerifier, TrustedIssuer
from broker.config import IssuerConfig
from broker.errors import AuthenticationError
from tests.hardening.harness import ATTACKS, AUDIENCE, ISSUER, VECTORS, mint


@dataclass
class IdentityProvider:
    """What the fake IdP serves; the handler reads it on every request."""

    jwks: bytes = b""
    status: int = 200
    redirect_to: str | None = None
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def idp() -> Iterator[tuple[IdentityProvider, str]]:
    state = IdentityProvider(jwks=(VECTORS / "issuer.jwks.json").read_bytes())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path == "/jwks" and state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
                self.end_headers()
                return
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(state.jwks)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/jwks"
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier_for(keys: UrlKeySet) -> TokenVerifier:
    return TokenVerifier([TrustedIssuer(ISSUER, keys, ("EdDSA",))], audience=AUDIENCE, leeway=30)


def valid() -> str:
    return (ATTACKS / "valid.jwt").read_text().strip()


def rotated_jwks(new_key: Ed25519PrivateKey, kid: str) -> bytes:
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(new_key.public_key(), as_dict=True)
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    old = json.loads((VECTORS / "issuer.jwks.json").read_text())["keys"]
    return json.dumps({"keys": [*old, jwk]}).encode()


def test_an_issuer_configured_by_url_verifies_tokens_and_caches_its_keys(idp) -> None:
    state, url = idp
    trusted = TrustedIssuer.from_config(IssuerConfig(ISSUER, None, ("EdDSA",), jwks_url=url))
    verifier = TokenVerifier([trusted], audience=AUDIENCE, leeway=30)
    for _ in range(5):
        assert verifier.verify(valid()).agency == "test-agency"
    assert state.requests == ["/jwks"]  # fetched once at start, then served from the cache


def test_the_cache_is_refreshed_when_it_expires(idp) -> None:
    state, url = idp
    clock = Clock()
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=300, clock=clock)
    verifier = verifier_for(keys)
    verifier.verify(valid())
    clock.now += 299
    verifier.verify(valid())
    assert len(state.requests) == 1
    clock.now += 2
    verifier.verify(valid())
    assert len(state.requests) == 2


def test_a_rotated_key_is_found_by_refreshing_on_its_unknown_kid(idp) -> None:
    state, url = idp
    clock = Clock()
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=3600, clock=clock)
    verifier = verifier_for(keys)
    verifier.verify(valid())
    new_key = Ed25519PrivateKey.generate()
    state.jwks = rotated_jwks(new_key, "idp-2026-02")
    token = jwt.encode(
        jwt.decode(valid(), options={"verify_signature": False}),
        new_key,
        algorithm="EdDSA",
        headers={"kid": "idp-2026-02"},
    )
    clock.now += MIN_REFRESH_SECONDS
    assert verifier.verify(token).officer == "officer.one"
    assert len(state.requests) == 2


def test_random_kids_cannot_make_the_broker_hammer_the_provider(idp) -> None:
    state, url = idp
    clock = Clock()
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=3600, clock=clock)
    verifier = verifier_for(keys)
    verifier.verify(valid())
    sprayed = (ATTACKS / "unknown_kid.jwt").read_text().strip()
    for _ in range(200):
        with pytest.raises(AuthenticationError, match="key id is unknown"):
            verifier.verify(sprayed)
        clock.now += 0.1  # 20 s of spraying in all
    assert len(state.requests) == 1
    clock.now += MIN_REFRESH_SECONDS
    with pytest.raises(AuthenticationError):
        verifier.verify(sprayed)
    assert len(state.requests) == 2  # one more refresh, then throttled again


def test_an_unreachable_provider_serves_stale_keys_for_a_while_then_fails_closed(idp) -> None:
    state, url = idp
    clock = Clock()
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=300, clock=clock)
    verifier = verifier_for(keys)
    verifier.verify(valid())
    state.status = 503
    clock.now += 600
    verifier.verify(valid())  # stale but within MAX_STALE_SECONDS
    clock.now += MAX_STALE_SECONDS
    with pytest.raises(AuthenticationError, match="key id is unknown"):
        verifier.verify(valid())
    state.status = 200
    clock.now += MIN_REFRESH_SECONDS
    verifier.verify(valid())  # the provider is back: so are its keys


def test_a_provider_that_never_answered_means_no_token_is_accepted(idp) -> None:
    state, url = idp
    state.status = 500
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=300, clock=Clock())
    keys.prefetch()
    with pytest.raises(AuthenticationError):
        verifier_for(keys).verify(valid())


def test_redirects_are_not_followed(idp) -> None:
    state, url = idp
    state.redirect_to = url.replace("/jwks", "/elsewhere")
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=300, clock=Clock())
    with pytest.raises(AuthenticationError):
        verifier_for(keys).verify(valid())
    assert state.requests == ["/jwks"]


@pytest.mark.parametrize(
    "document",
    [
        b"x" * (MAX_JWKS_BYTES + 1),
        b"<html>not json</html>",
        b'{"keys": {}}',
        b'{"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}]}',
    ],
    ids=["oversized", "not_json", "keys_not_a_list", "symmetric_key"],
)
def test_an_unusable_response_yields_no_keys(idp, document: bytes) -> None:
    state, url = idp
    state.jwks = document
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=300, clock=Clock())
    with pytest.raises(AuthenticationError):
        verifier_for(keys).verify(valid())


def test_a_jwks_with_private_key_material_is_refused_whole() -> None:
    private = jwt.algorithms.OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate(), as_dict=True)
    private["kid"] = "leaked"
    public = json.loads((VECTORS / "issuer.jwks.json").read_text())["keys"]
    with pytest.raises(JwksError, match="private or symmetric"):
        parse_jwks(json.dumps({"keys": [*public, private]}))


def test_encryption_keys_and_keys_without_kid_are_skipped() -> None:
    public = json.loads((VECTORS / "issuer.jwks.json").read_text())["keys"][0]
    enc = {**public, "kid": "enc-1", "use": "enc"}
    anonymous = {k: v for k, v in public.items() if k != "kid"}
    keys = parse_jwks(json.dumps({"keys": [public, enc, anonymous]}))
    assert set(keys) == {public["kid"]}


def test_a_duplicate_kid_is_ambiguous_and_refused() -> None:
    public = json.loads((VECTORS / "issuer.jwks.json").read_text())["keys"][0]
    with pytest.raises(JwksError, match="appears twice"):
        parse_jwks(json.dumps({"keys": [public, public]}))


def test_fresh_tokens_verify_through_the_url_source(idp) -> None:
    _, url = idp
    keys = UrlKeySet(url, issuer=ISSUER, cache_seconds=300, clock=Clock())
    assert verifier_for(keys).verify(mint()).roles == ("investigator",)
