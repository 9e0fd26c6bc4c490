"""Token verification, including the classic attacks (RFC 8725)."""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.authn.dev_issuer import DevIssuer
from broker.authn.jwt_verifier import TokenVerifier, TrustedIssuer
from broker.config import IssuerConfig
from broker.errors import AuthenticationError
from broker.models import Principal

AUDIENCE = "biometric-broker"
OFFICER = Principal("us-fbi", "sa.morgan", ("investigator",), "US", "US")


@pytest.fixture
def issuer() -> DevIssuer:
    return DevIssuer.create("https://idp.test")


@pytest.fixture
def verifier(issuer: DevIssuer, tmp_path: Path) -> TokenVerifier:
    jwks = issuer.write_jwks(tmp_path / "idp.json")
    trusted = TrustedIssuer.from_config(IssuerConfig(issuer.issuer, jwks, ("EdDSA",)))
    return TokenVerifier([trusted], audience=AUDIENCE, leeway=5)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(issuer: DevIssuer, **changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": issuer.issuer,
        "sub": "sa.morgan",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
        "agency": "us-fbi",
        "roles": ["investigator"],
        "country": "US",
        "jurisdiction": "US",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(issuer: DevIssuer, payload: dict[str, object], **headers: object) -> str:
    return jwt.encode(
        payload, issuer.private_key, algorithm="EdDSA", headers={"kid": issuer.kid, **headers}
    )


def test_a_valid_token_yields_the_principal_from_its_claims(issuer, verifier):
    assert verifier.verify(issuer.mint(OFFICER, audience=AUDIENCE)) == OFFICER


def alg_none(issuer: DevIssuer) -> str:
    header = b64(json.dumps({"alg": "none", "kid": issuer.kid}).encode())
    return f"{header}.{b64(json.dumps(claims(issuer)).encode())}."


def hs256_with_public_key(issuer: DevIssuer) -> str:
    public = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    header = b64(json.dumps({"alg": "HS256", "kid": issuer.kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims(issuer)).encode())
    mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(mac)}"


def tampered_payload(issuer: DevIssuer) -> str:
    header, _, signature = sign(issuer, claims(issuer)).split(".")
    forged = b64(json.dumps(claims(issuer, agency="us-hsi")).encode())
    return f"{header}.{forged}.{signature}"


def other_key_same_kid(issuer: DevIssuer) -> str:
    impostor = DevIssuer(issuer.issuer, Ed25519PrivateKey.generate(), issuer.kid)
    return sign(impostor, claims(issuer))


ATTACKS = {
    "alg_none": alg_none,
    "hs256_with_public_key": hs256_with_public_key,
    "tampered_payload": tampered_payload,
    "signed_by_another_key_with_the_same_kid": other_key_same_kid,
    "unknown_kid": lambda i: jwt.encode(
        claims(i), i.private_key, algorithm="EdDSA", headers={"kid": "nope"}
    ),
    "jku_pointing_elsewhere": lambda i: sign(i, claims(i), jku="https://evil.example/jwks"),
    "embedded_jwk": lambda i: sign(i, claims(i), jwk={"kty": "OKP"}),
    "expired": lambda i: sign(i, claims(i, exp=int(time.time()) - 120)),
    "not_yet_valid": lambda i: sign(i, claims(i, nbf=int(time.time()) + 120)),
    "wrong_audience": lambda i: sign(i, claims(i, aud="another-broker")),
    "wrong_issuer": lambda i: sign(i, claims(i, iss="https://idp.evil")),
    "missing_exp": lambda i: sign(i, claims(i, exp=None)),
    "missing_agency": lambda i: sign(i, claims(i, agency=None)),
    "roles_not_a_list": lambda i: sign(i, claims(i, roles="admin")),
    "garbage": lambda i: "not.a.jwt",
    "empty": lambda i: "",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_are_rejected(attack, issuer, verifier):
    with pytest.raises(AuthenticationError):
        verifier.verify(ATTACKS[attack](issuer))
