"""Writes the JWT attack vectors in jwt_attacks/, one file per attack, named after it.

    .venv/bin/python tests/hardening/vectors/make_jwt_attacks.py

The issuer's key (issuer-key.pem, test-only) and an attacker's key (attacker-key.pem) are
created on the first run and reused, so the vectors stay valid against issuer.jwks.json.
Times are fixed: valid tokens expire in 2100, the expired one in 2000, the premature ones
become valid in 2099, so the vectors do not age.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent
OUT = HERE / "jwt_attacks"
ISSUER = "https://idp.hardening.test"
AUDIENCE = "broker.hardening.test"
KID = "idp-2026-01"
ISSUED = 1767225600  # 2026-01-01
EXPIRES = 4102444800  # 2100-01-01


def key(name: str) -> Ed25519PrivateKey:
    path = HERE / name
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, Ed25519PrivateKey)
    return loaded


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(document: dict[str, Any]) -> str:
    return b64(json.dumps(document, separators=(",", ":")).encode())


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "officer.one",
        "aud": AUDIENCE,
        "iat": ISSUED,
        "nbf": ISSUED,
        "exp": EXPIRES,
        "jti": "vector",
        "agency": "test-agency",
        "roles": ["investigator"],
        "country": "US",
        "jurisdiction": "US",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def main() -> None:
    issuer = key("issuer-key.pem")
    attacker = key("attacker-key.pem")
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(issuer.public_key(), as_dict=True)
    jwk.update(kid=KID, alg="EdDSA", use="sig")
    (HERE / "issuer.jwks.json").write_text(json.dumps({"keys": [jwk]}, indent=2) + "\n")
    public_raw = issuer.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    public_pem = issuer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def sign(payload: dict[str, Any], signer: Ed25519PrivateKey = issuer, **header: Any) -> str:
        headers = {"kid": KID, **header}
        return jwt.encode(payload, signer, algorithm="EdDSA", headers=headers)

    def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
        return f"{segment(header)}.{segment(payload)}.{signature}"

    def hs256(secret: bytes) -> str:
        header = {"alg": "HS256", "kid": KID, "typ": "JWT"}
        signing_input = f"{segment(header)}.{segment(claims())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64(mac)}"

    valid = sign(claims())
    header, body, signature = valid.split(".")
    attacker_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key(), as_dict=True)
    vectors = {
        "valid": valid,
        # The algorithm is the token's to choose only within the issuer's allow-list.
        "alg_none": unsigned({"alg": "none", "kid": KID}, claims()),
        "alg_none_capitalised": unsigned({"alg": "None", "kid": KID}, claims()),
        "alg_none_with_signature": unsigned({"alg": "none", "kid": KID}, claims(), signature),
        "hs256_with_public_key": hs256(public_raw),
        "hs256_with_public_key_pem": hs256(public_pem),
        "es256_claimed_for_an_ed25519_key": unsigned(
            {"alg": "ES256", "kid": KID}, claims(), signature
        ),
        # Keys come from configuration, never from the token.
        "unknown_kid": sign(claims(), kid="idp-1999-01"),
        "missing_kid": unsigned({"alg": "EdDSA"}, claims(), signature),
        "kid_pointing_at_a_file": sign(claims(), kid="../../../../etc/passwd"),
        "kid_pointing_at_a_url": sign(claims(), kid="https://evil.example/jwks.json#k1"),
        "jku_pointing_elsewhere": sign(
            claims(), signer=attacker, jku="https://evil.example/jwks.json"
        ),
        "x5u_pointing_elsewhere": sign(claims(), signer=attacker, x5u="https://evil.example/c"),
        "embedded_jwk_of_the_attacker": sign(claims(), signer=attacker, jwk=attacker_jwk),
        "signed_by_another_key_with_the_same_kid": sign(claims(), signer=attacker),
        # Integrity.
        "tampered_payload": f"{header}.{segment(claims(agency='us-fbi'))}.{signature}",
        "tampered_header": f"{segment({'alg': 'EdDSA', 'kid': KID, 'typ': 'JWT', 'zip': 'x'})}"
        f".{body}.{signature}",
        "signature_stripped": f"{header}.{body}.",
        "signature_truncated": f"{header}.{body}.{signature[:40]}",
        # Time.
        "expired": sign(claims(exp=946684800)),  # 2000-01-01
        "not_yet_valid": sign(claims(nbf=4070908800)),  # 2099-01-01
        "issued_in_the_future": sign(claims(iat=4070908800, nbf=None)),
        # Audience and issuer.
        "wrong_audience": sign(claims(aud="https://api.other.test")),
        "token_for_another_broker": sign(claims(aud="broker.other-agency.test")),
        "wrong_issuer": sign(claims(iss="https://idp.evil.test")),
        # Required claims.
        "missing_exp": sign(claims(exp=None)),
        "missing_iat": sign(claims(iat=None)),
        "missing_aud": sign(claims(aud=None)),
        "missing_sub": sign(claims(sub=None)),
        "missing_agency": sign(claims(agency=None)),
        "missing_roles": sign(claims(roles=None)),
        "missing_jurisdiction": sign(claims(jurisdiction=None)),
        "roles_not_a_list": sign(claims(roles="admin")),
        "roles_empty": sign(claims(roles=[])),
        "agency_too_long": sign(claims(agency="a" * 129)),
        "officer_with_control_characters": sign(claims(sub="officer\nsecond line")),
        # Headers this broker does not accept.
        "critical_header_extension": sign(claims(), crit=["exp"], exp=1),
        "typed_as_a_decision_receipt": sign(claims(), typ="decision-receipt+jwt"),
        # Not a compact JWS at all.
        "encrypted_five_parts": f"{header}.{body}.{signature}.x.y",
        "garbage": "not.a.jwt",
        "oversized": sign(claims(padding="x" * 9000)),
    }
    OUT.mkdir(exist_ok=True)
    for stale in OUT.glob("*.jwt"):
        stale.unlink()
    for name, token in vectors.items():
        (OUT / f"{name}.jwt").write_text(token + "\n")
    print(f"wrote {len(vectors)} vectors to {OUT}")


if __name__ == "__main__":
    main()
