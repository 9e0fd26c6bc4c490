"""Writes receipt_attacks/*.jwt: forged or malformed decision receipts, one file per attack.

Run from the repository root: `.venv/bin/python tests/audit/vectors/make_receipt_attacks.py`.
Tokens are assembled by hand here (not with broker code) so the tests check the verifier
against an independent construction. The broker key is RFC 8037 A.1's; the attacker key is
derived from a fixed seed. Ed25519 and HMAC are deterministic, so the output is stable and
tests/audit/test_audit_receipts.py checks that the committed files match this script.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).parent
OUT = HERE / "receipt_attacks"
TYP = "decision-receipt+jwt"


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def compact_json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def thumbprint(private: Ed25519PrivateKey) -> str:
    raw = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64u(raw)}
    return b64u(hashlib.sha256(compact_json(members)).digest())


RFC8037 = json.loads((HERE / "rfc8037.json").read_text())
BROKER = Ed25519PrivateKey.from_private_bytes(b64u_decode(RFC8037["private_jwk"]["d"]))
BROKER_KID = thumbprint(BROKER)
ATTACKER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"attacker").digest())
ATTACKER_KID = thumbprint(ATTACKER)

CLAIMS = {
    "agency": "agency-a",
    "decision": "deny",
    "iat": 1767225600,
    "input_digest": "11" * 32,
    "iss": "broker-test",
    "jti": "receipt-0001",
    "legal_basis": {"reference": "act-12", "type": "statute"},
    "log": {"prev": "22" * 32, "seq": 7},
    "obligations": {},
    "op": "identify",
    "policy_revision": "33" * 32,
    "purpose": "criminal-investigation",
    "reasons": [{"code": "no_agreement", "message": "no agreement covers this query"}],
    "sub": "officer-17",
}


def ed25519_token(header: Mapping[str, object], payload: bytes, key: Ed25519PrivateKey) -> str:
    signing_input = f"{b64u(compact_json(header))}.{b64u(payload)}"
    return f"{signing_input}.{b64u(key.sign(signing_input.encode()))}"


def hs256_token(header: Mapping[str, object], payload: bytes, secret: bytes) -> str:
    signing_input = f"{b64u(compact_json(header))}.{b64u(payload)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64u(mac)}"


def build() -> dict[str, str]:
    """{file name: token}; every token except valid.jwt must be rejected."""
    header = {"alg": "EdDSA", "kid": BROKER_KID, "typ": TYP}
    payload = compact_json(CLAIMS)
    valid = ed25519_token(header, payload, BROKER)
    public = BROKER.public_key()
    public_raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attacker_raw = ATTACKER.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    allowed = compact_json({**CLAIMS, "decision": "allow"})
    head, _, signature = valid.split(".")
    duplicate = payload[:-1] + b',"decision":"allow"}'
    missing = compact_json({k: v for k, v in CLAIMS.items() if k != "input_digest"})
    none_header = b64u(compact_json({"alg": "none", "kid": BROKER_KID, "typ": TYP}))
    return {
        "valid.jwt": valid,
        "alg_none.jwt": f"{none_header}.{b64u(payload)}.",
        "alg_none_with_signature.jwt": f"{none_header}.{b64u(payload)}.{signature}",
        "hs256_with_public_key.jwt": hs256_token(
            {"alg": "HS256", "kid": BROKER_KID, "typ": TYP}, payload, public_raw
        ),
        "hs256_with_public_pem.jwt": hs256_token(
            {"alg": "HS256", "kid": BROKER_KID, "typ": TYP}, payload, public_pem
        ),
        "tampered_payload.jwt": f"{head}.{b64u(allowed)}.{signature}",
        "unknown_kid.jwt": ed25519_token(
            {"alg": "EdDSA", "kid": ATTACKER_KID, "typ": TYP}, allowed, ATTACKER
        ),
        "other_key_same_kid.jwt": ed25519_token(header, allowed, ATTACKER),
        "embedded_jwk.jwt": ed25519_token(
            {
                **header,
                "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64u(attacker_raw)},
            },
            allowed,
            ATTACKER,
        ),
        "wrong_typ.jwt": ed25519_token({**header, "typ": "JWT"}, payload, BROKER),
        "crit_header.jwt": ed25519_token({**header, "crit": ["exp"]}, payload, BROKER),
        "duplicate_claim.jwt": ed25519_token(header, duplicate, BROKER),
        "missing_claim.jwt": ed25519_token(header, missing, BROKER),
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, token in build().items():
        (OUT / name).write_text(token + "\n")


if __name__ == "__main__":
    main()
