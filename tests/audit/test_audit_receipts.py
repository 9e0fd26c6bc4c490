"""Decision receipts: issued by us, verified by pyjwt, by joserfc, and attacked."""

from __future__ import annotations

import importlib.util
import json
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jws as jose_jws
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet, OKPKey

from broker.audit.log import LogPosition
from broker.errors import SigningError, VerificationError
from broker.keys import SigningKey, b64url_decode, b64url_encode
from broker.models import LegalBasis, Reason
from broker.receipts import RECEIPT_TYP, ReceiptClaims, issue_receipt, verify_receipt
from tests.audit.audit_helpers import VECTORS, claims_for

ATTACKS = VECTORS / "receipt_attacks"
POSITION = LogPosition(41, "9f" * 32)

# joserfc warns that RFC 9864 deprecates the polymorphic "EdDSA" name in favour of "Ed25519";
# the receipt format fixes "EdDSA" (what every deployed JWT library understands today).
pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")


def _jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [k.public_jwk() for k in keys]}


def test_receipt_round_trip_and_header(key: SigningKey) -> None:
    claims = claims_for(POSITION)
    token = issue_receipt(key, claims)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": key.kid, "typ": RECEIPT_TYP}
    verified = verify_receipt(token, _jwks(key), issuer="broker-test")
    assert verified == claims.to_json()
    assert verified["log"] == {"seq": 41, "prev": "9f" * 32}
    assert ReceiptClaims.from_json(verified) == claims


def test_receipts_are_deterministic_and_canonical(key: SigningKey) -> None:
    claims = claims_for(POSITION)
    assert issue_receipt(key, claims) == issue_receipt(key, claims.to_json())
    payload = b64url_decode(issue_receipt(key, claims).split(".")[1])
    assert payload.startswith(b'{"agency":"agency-a","decision":"allow"')  # RFC 8785 order


def test_pyjwt_alone_verifies_a_receipt(key: SigningKey) -> None:
    token = issue_receipt(key, claims_for(POSITION))
    claims = jwt.decode(token, key.verifying_key.cryptography_key, algorithms=["EdDSA"])
    assert claims["input_digest"] == "cd" * 32
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, SigningKey.generate().verifying_key.cryptography_key, algorithms=["EdDSA"]
        )


def test_joserfc_independently_verifies_a_receipt(key: SigningKey) -> None:
    token = issue_receipt(key, claims_for(POSITION))
    public = OKPKey.import_key(cast(Any, key.public_jwk()))
    assert public.thumbprint() == key.kid  # a second RFC 7638 implementation agrees
    message = jose_jws.deserialize_compact(token, public, algorithms=["EdDSA"])
    assert message.protected["typ"] == RECEIPT_TYP
    assert json.loads(message.payload)["log"]["seq"] == 41
    decoded = jose_jwt.decode(
        token, KeySet.import_key_set(cast(Any, _jwks(key))), algorithms=["EdDSA"]
    )
    assert decoded.claims["decision"] == "allow"
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(Exception, match="signature"):
        jose_jws.deserialize_compact(tampered, public, algorithms=["EdDSA"])


def test_a_receipt_joserfc_signs_verifies_here(key: SigningKey) -> None:
    private = OKPKey.import_key(
        {**key.public_jwk(), "d": _private_d(key)}  # same key, joserfc's own signer
    )
    payload = json.dumps(claims_for(POSITION).to_json()).encode()
    header = {"alg": "EdDSA", "kid": key.kid, "typ": RECEIPT_TYP}
    token = jose_jws.serialize_compact(header, payload, private, algorithms=["EdDSA"])
    assert verify_receipt(token, _jwks(key))["jti"] == "r-1"


def _private_d(key: SigningKey) -> str:
    raw = key.cryptography_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return b64url_encode(raw)


def _load_attack_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_receipt_attacks", VECTORS / "make_receipt_attacks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_attack_files_match_their_generator() -> None:
    built = _load_attack_script().build()
    committed = {p.name: p.read_text().strip() for p in ATTACKS.glob("*.jwt")}
    assert committed == built


def test_the_generator_builds_what_issue_receipt_issues(rfc8037_key: SigningKey) -> None:
    script = _load_attack_script()
    claims = ReceiptClaims.from_json(script.CLAIMS)
    assert issue_receipt(rfc8037_key, claims) == (ATTACKS / "valid.jwt").read_text().strip()


ATTACK_CASES = {
    "alg_none.jwt": "three non-empty parts",
    "alg_none_with_signature.jwt": "'none' is not accepted",
    "hs256_with_public_key.jwt": "'HS256' is not accepted",
    "hs256_with_public_pem.jwt": "'HS256' is not accepted",
    "tampered_payload.jwt": "Signature verification failed",
    "unknown_kid.jwt": "unknown key",
    "other_key_same_kid.jwt": "Signature verification failed",
    "embedded_jwk.jwt": r"unsupported members \['jwk'\]",
    "wrong_typ.jwt": "header.typ",
    "crit_header.jwt": r"unsupported members \['crit'\]",
    "duplicate_claim.jwt": "duplicate member name 'decision'",
    "missing_claim.jwt": r"missing \['input_digest'\]",
}


def test_every_attack_file_is_covered() -> None:
    assert {p.name for p in ATTACKS.glob("*.jwt")} == {*ATTACK_CASES, "valid.jwt"}


def test_the_valid_sample_passes(rfc8037_key: SigningKey) -> None:
    claims = verify_receipt((ATTACKS / "valid.jwt").read_text().strip(), _jwks(rfc8037_key))
    assert claims["decision"] == "deny"


@pytest.mark.parametrize(("name", "needle"), sorted(ATTACK_CASES.items()))
def test_attack_is_rejected(rfc8037_key: SigningKey, name: str, needle: str) -> None:
    token = (ATTACKS / name).read_text().strip()
    with pytest.raises(VerificationError, match=needle):
        verify_receipt(token, _jwks(rfc8037_key))


def test_pyjwt_with_our_algorithm_list_also_rejects_the_hmac_forgery(
    rfc8037_key: SigningKey,
) -> None:
    token = (ATTACKS / "hs256_with_public_key.jwt").read_text().strip()
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(token, rfc8037_key.verifying_key.cryptography_key, algorithms=["EdDSA"])


def test_issuer_is_checked_when_given(key: SigningKey) -> None:
    token = issue_receipt(key, claims_for(POSITION))
    with pytest.raises(VerificationError, match="iss"):
        verify_receipt(token, _jwks(key), issuer="another-broker")


def test_a_key_rotated_out_of_the_set_no_longer_verifies(
    key: SigningKey, other_key: SigningKey
) -> None:
    token = issue_receipt(key, claims_for(POSITION))
    assert verify_receipt(token, _jwks(other_key, key))["sub"] == "officer-17"
    with pytest.raises(VerificationError, match="unknown key"):
        verify_receipt(token, _jwks(other_key))


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "a.b.c.d", "!!.e30.AA", "x" * 70_000, "e30.e30.AA"],
    ids=["empty", "two-parts", "four-parts", "bad-base64", "huge", "no-alg"],
)
def test_malformed_tokens_are_verification_errors(key: SigningKey, token: str) -> None:
    with pytest.raises(VerificationError):
        verify_receipt(token, _jwks(key))


def _claims(**changes: Any) -> ReceiptClaims:
    fields = {**claims_for(POSITION).__dict__, **changes}
    return ReceiptClaims(**fields)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"decision": "maybe"}, "claims.decision"),
        ({"op": "delete"}, "claims.op"),
        ({"iat": -1}, "claims.iat"),
        ({"iat": True}, "claims.iat"),
        ({"iss": ""}, "claims.iss"),
        ({"input_digest": "AB" * 32}, "claims.input_digest"),
        ({"policy_revision": "ab"}, "claims.policy_revision"),
        ({"log_prev": "0" * 63}, "claims.log.prev"),
        ({"log_seq": -3}, "claims.log.seq"),
        ({"reasons": (Reason("", "x"),)}, r"claims.reasons\[0\].code"),
        ({"legal_basis": LegalBasis("statute", 7)}, "claims.legal_basis.reference"),  # type: ignore[arg-type]
    ],
)
def test_claims_check_every_field(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(SigningError, match=needle):
        _claims(**changes)


def test_issue_refuses_claims_that_are_not_the_documented_set(key: SigningKey) -> None:
    doc = {**claims_for(POSITION).to_json(), "extra": 1}
    with pytest.raises(SigningError, match="unexpected"):
        issue_receipt(key, doc)
    with pytest.raises(SigningError, match="no canonical"):
        issue_receipt(key, _claims(obligations={"min_score": float("nan")}))


def test_a_deny_receipt_may_carry_an_empty_purpose(key: SigningKey) -> None:
    claims = _claims(decision="deny", purpose="", legal_basis=LegalBasis("", ""))
    assert verify_receipt(issue_receipt(key, claims), _jwks(key))["purpose"] == ""
