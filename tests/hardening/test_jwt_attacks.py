"""The JWT attack suite (RFC 8725): every vector in vectors/jwt_attacks/ is refused, for the
reason named here, by the verifier and by a running broker with UNAUTHENTICATED, and none
of them leaves a trace in the audit log. The vectors are files written by
vectors/make_jwt_attacks.py."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from broker.audit.verify import verify_log
from broker.authn.jwt_verifier import TokenVerifier, TrustedIssuer
from broker.config import BrokerConfig, IssuerConfig
from broker.errors import AuthenticationError, ConfigError
from tests.hardening.harness import (
    ATTACKS,
    AUDIENCE,
    ISSUER,
    VECTORS,
    bearer,
    broker_config,
    identify_request,
    mint,
    running_broker,
)

# attack -> what the refusal must say (so each is refused for its own reason, not by luck)
EXPECTED = {
    "alg_none": "algorithm 'none' is not allowed",
    "alg_none_capitalised": "algorithm 'None' is not allowed",
    "alg_none_with_signature": "algorithm 'none' is not allowed",
    "hs256_with_public_key": "algorithm 'HS256' is not allowed",
    "hs256_with_public_key_pem": "algorithm 'HS256' is not allowed",
    "es256_claimed_for_an_ed25519_key": "does not match the key's algorithm",
    "unknown_kid": "key id is unknown",
    "missing_kid": "no usable key id",
    "kid_pointing_at_a_file": "key id is unknown",
    "kid_pointing_at_a_url": "key id is unknown",
    "jku_pointing_elsewhere": "names its own key",
    "x5u_pointing_elsewhere": "names its own key",
    "embedded_jwk_of_the_attacker": "names its own key",
    "signed_by_another_key_with_the_same_kid": "Signature verification failed",
    "tampered_payload": "Signature verification failed",
    "tampered_header": "Signature verification failed",
    "signature_stripped": "Signature verification failed",
    "signature_truncated": "Signature verification failed",
    "expired": "Signature has expired",
    "not_yet_valid": "not yet valid (nbf)",
    "issued_in_the_future": "not yet valid (iat)",
    "wrong_audience": "Audience doesn't match",
    "token_for_another_broker": "Audience doesn't match",
    "wrong_issuer": "issuer is not trusted",
    "missing_exp": 'missing the "exp" claim',
    "missing_iat": 'missing the "iat" claim',
    "missing_aud": 'missing the "aud" claim',
    "missing_sub": 'missing the "sub" claim',
    "missing_agency": "'agency' is missing",
    "missing_roles": "'roles' is missing",
    "missing_jurisdiction": "'jurisdiction' is missing",
    "roles_not_a_list": "'roles' is missing or not a list",
    "roles_empty": "'roles' must hold 1..32",
    "agency_too_long": "'agency' is longer than 128",
    "officer_with_control_characters": "'sub' contains control characters",
    "critical_header_extension": "critical extension",
    "typed_as_a_decision_receipt": "not an access token",
    "encrypted_five_parts": "not a compact JWS",
    "garbage": "malformed token",
    "oversized": "too long",
}


def vector(name: str) -> str:
    return (ATTACKS / f"{name}.jwt").read_text().strip()


@pytest.fixture(scope="module")
def verifier() -> TokenVerifier:
    trusted = TrustedIssuer.from_config(
        IssuerConfig(ISSUER, VECTORS / "issuer.jwks.json", ("EdDSA", "ES256"))
    )
    return TokenVerifier([trusted], audience=AUDIENCE, leeway=30)


def test_every_vector_has_an_expected_reason_and_every_reason_a_vector() -> None:
    names = {p.stem for p in ATTACKS.glob("*.jwt")} - {"valid"}
    assert names == set(EXPECTED)
    assert len(names) >= 40


def test_the_control_vector_is_accepted(verifier: TokenVerifier) -> None:
    principal = verifier.verify(vector("valid"))
    assert (principal.agency, principal.officer) == ("test-agency", "officer.one")


@pytest.mark.parametrize("attack", sorted(EXPECTED))
def test_the_verifier_refuses_each_attack_for_its_reason(
    attack: str, verifier: TokenVerifier
) -> None:
    with pytest.raises(AuthenticationError) as refused:
        verifier.verify(vector(attack))
    assert EXPECTED[attack] in str(refused.value)


def test_a_running_broker_answers_every_attack_with_unauthenticated_and_logs_nothing(
    matcher, tmp_path: Path, gallery
) -> None:
    config = broker_config(tmp_path / "b", matcher.address)
    probe = gallery.probe("us-fbi", 12, "face")
    with running_broker(config) as broker, broker.channel() as channel:
        stub = broker.stub(channel)
        before = verify_log(broker.audit_dir).size
        codes = {}
        for attack in sorted(EXPECTED):
            with pytest.raises(grpc.RpcError) as refused:
                stub.Identify(identify_request(probe), metadata=bearer(vector(attack)), timeout=10)
            codes[attack] = refused.value.code()
        assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes
        assert verify_log(broker.audit_dir).size == before
        # The same broker serves the control token: the refusals were not an outage.
        reply = stub.Identify(identify_request(probe), metadata=bearer(vector("valid")), timeout=10)
        assert reply.decision_receipt.jws
        assert verify_log(broker.audit_dir).size == before + 2  # decision and outcome


@pytest.mark.parametrize(
    ("changes", "accepted"),
    [
        ({"exp": -10}, True),  # expired 10 s ago, within the 30 s leeway
        ({"exp": -60}, False),
        ({"nbf": 10}, True),
        ({"nbf": 60}, False),
        ({"iat": 10}, True),
        ({"iat": 60}, False),
    ],
)
def test_time_claims_are_checked_with_the_configured_leeway(
    verifier: TokenVerifier, changes: dict[str, int], accepted: bool
) -> None:
    now = int(time.time())
    token = mint(**{claim: now + offset for claim, offset in changes.items()})
    if accepted:
        verifier.verify(token)
    else:
        with pytest.raises(AuthenticationError, match=r"expired|not yet valid"):
            verifier.verify(token)


def test_a_zero_leeway_refuses_what_a_leeway_tolerates() -> None:
    trusted = TrustedIssuer.from_config(IssuerConfig(ISSUER, VECTORS / "issuer.jwks.json"))
    strict = TokenVerifier([trusted], audience=AUDIENCE, leeway=0)
    with pytest.raises(AuthenticationError, match="expired"):
        strict.verify(mint(exp=int(time.time()) - 10))


def test_the_algorithm_allow_list_is_per_issuer() -> None:
    only_es256 = TrustedIssuer.from_config(
        IssuerConfig(ISSUER, VECTORS / "issuer.jwks.json", ("ES256",))
    )
    verifier = TokenVerifier([only_es256], audience=AUDIENCE, leeway=0)
    with pytest.raises(AuthenticationError, match="'EdDSA' is not allowed"):
        verifier.verify(vector("valid"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_leeway_seconds": 301}, "jwt_leeway_seconds: must be within 0..300"),
        ({"jwt_leeway_seconds": -1}, "jwt_leeway_seconds"),
        (
            {"issuers": [{"issuer": ISSUER}]},
            "issuers[0]: set exactly one of jwks_file and jwks_url",
        ),
        (
            {
                "issuers": [
                    {
                        "issuer": ISSUER,
                        "jwks_file": "a.json",
                        "jwks_url": "https://idp.example/jwks",
                    }
                ]
            },
            "set exactly one",
        ),
        (
            {"issuers": [{"issuer": ISSUER, "jwks_url": "http://idp.example/jwks"}]},
            "jwks_url: must be https://",
        ),
        (
            {"issuers": [{"issuer": ISSUER, "jwks_file": "a.json", "jwks_ulr": "x"}]},
            "unknown issuer keys: ['jwks_ulr']",
        ),
    ],
)
def test_bad_authentication_settings_are_refused_before_start(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    raw: dict[str, object] = {
        "broker_id": "b",
        "listen": "127.0.0.1:0",
        "policy_dir": "p",
        "signing_key_file": "k.pem",
        "audit_dir": "a",
        "matcher_address": "unix:/run/m.sock",
        "issuers": [{"issuer": ISSUER, "jwks_file": "a.json"}],
    }
    raw.update(overrides)
    with pytest.raises(ConfigError) as refused:
        BrokerConfig.load(None, env={}, overrides=raw)
    assert message in str(refused.value)
