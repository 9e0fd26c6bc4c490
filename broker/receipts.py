"""Decision receipts: compact JWS (RFC 7515), EdDSA/Ed25519 (RFC 8037), typ decision-receipt+jwt.

Any JWT library verifies a receipt with the broker's JWKS. Our own verifier is deliberately
narrower than a generic one: it accepts exactly one algorithm (EdDSA: never "none", never an
HMAC keyed with public key bytes), exactly the header members it understands (no `crit`, no
`jwk`/`jku` key injection), no duplicate member names, and exactly the documented claims.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from broker import canonical
from broker.errors import CanonicalizationError, SigningError, VerificationError
from broker.keys import SigningKey, VerifyingKey, b64url_decode, parse_jwks
from broker.models import LegalBasis, Operation, Reason

__all__ = [
    "RECEIPT_ALG",
    "RECEIPT_TYP",
    "ReceiptClaims",
    "ReceiptVerifier",
    "issue_receipt",
    "receipt_kid",
    "unverified_claims",
    "verify_receipt",
]

RECEIPT_ALG = "EdDSA"
RECEIPT_TYP = "decision-receipt+jwt"
DECISIONS = frozenset({"allow", "deny"})
ALLOWED_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
# A receipt is a few hundred bytes; refusing big inputs bounds the work an attacker can cause.
MAX_RECEIPT_CHARS = 64 * 1024
# Auditors verify receipts on other machines; tolerate this much clock difference on `iat`.
MAX_CLOCK_SKEW_SECONDS = 300

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CLAIM_NAMES = frozenset(
    {
        "iss",
        "iat",
        "jti",
        "sub",
        "agency",
        "op",
        "purpose",
        "legal_basis",
        "decision",
        "reasons",
        "obligations",
        "policy_revision",
        "input_digest",
        "log",
    }
)
_OPERATIONS = frozenset(op.value for op in Operation)


def _bad(name: str, message: str) -> SigningError:
    return SigningError(f"claims.{name}: {message}" if name else f"claims: {message}")


def _require_str(name: str, value: object, *, non_empty: bool) -> str:
    if not isinstance(value, str):
        raise _bad(name, f"expected a string, got {type(value).__name__}")
    if non_empty and not value:
        raise _bad(name, "must not be empty")
    return value


def _require_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _bad(name, "expected a non-negative integer")
    return value


def _require_hex64(name: str, value: object) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise _bad(name, "expected 64 lowercase hex digits (SHA-256)")
    return value


def _require_object(name: str, value: object, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(name, "expected an object")
    missing, unexpected = keys - set(value), set(value) - keys
    if missing:
        raise _bad(name, f"missing {sorted(missing)}")
    if unexpected:
        raise _bad(name, f"unexpected {sorted(unexpected)}")
    return value


@dataclass(frozen=True)
class ReceiptClaims:
    """The claims of one decision receipt (DESIGN.md "Receipts"), checked when built."""

    iss: str
    iat: int
    jti: str
    sub: str
    agency: str
    op: str
    purpose: str
    legal_basis: LegalBasis
    decision: str
    reasons: tuple[Reason, ...]
    policy_revision: str
    input_digest: str
    log_seq: int
    log_prev: str
    obligations: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("iss", "jti", "sub", "agency"):
            _require_str(name, getattr(self, name), non_empty=True)
        _require_str("purpose", self.purpose, non_empty=False)
        _require_int("iat", self.iat)
        if self.op not in _OPERATIONS:
            raise _bad("op", f"expected one of {sorted(_OPERATIONS)}, got {self.op!r}")
        if not isinstance(self.legal_basis, LegalBasis):
            raise _bad("legal_basis", "expected a LegalBasis")
        _require_str("legal_basis.type", self.legal_basis.type, non_empty=False)
        _require_str("legal_basis.reference", self.legal_basis.reference, non_empty=False)
        if self.decision not in DECISIONS:
            raise _bad("decision", f"expected 'allow' or 'deny', got {self.decision!r}")
        for index, reason in enumerate(self.reasons):
            if not isinstance(reason, Reason):
                raise _bad(f"reasons[{index}]", "expected a Reason")
            _require_str(f"reasons[{index}].code", reason.code, non_empty=True)
            _require_str(f"reasons[{index}].message", reason.message, non_empty=False)
        if not isinstance(self.obligations, Mapping):
            raise _bad("obligations", "expected an object")
        _require_hex64("policy_revision", self.policy_revision)
        _require_hex64("input_digest", self.input_digest)
        _require_int("log.seq", self.log_seq)
        _require_hex64("log.prev", self.log_prev)

    def to_json(self) -> dict[str, Any]:
        return {
            "iss": self.iss,
            "iat": self.iat,
            "jti": self.jti,
            "sub": self.sub,
            "agency": self.agency,
            "op": self.op,
            "purpose": self.purpose,
            "legal_basis": {
                "type": self.legal_basis.type,
                "reference": self.legal_basis.reference,
            },
            "decision": self.decision,
            "reasons": [reason.to_json() for reason in self.reasons],
            "obligations": dict(self.obligations),
            "policy_revision": self.policy_revision,
            "input_digest": self.input_digest,
            "log": {"seq": self.log_seq, "prev": self.log_prev},
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> ReceiptClaims:
        """Parses claims; exactly the documented members, each of the documented type."""
        claims = _require_object("", doc, _CLAIM_NAMES)
        legal = _require_object(
            "legal_basis", claims["legal_basis"], frozenset({"type", "reference"})
        )
        log = _require_object("log", claims["log"], frozenset({"seq", "prev"}))
        raw_reasons = claims["reasons"]
        if not isinstance(raw_reasons, list):
            raise _bad("reasons", "expected an array")
        reasons = []
        for index, item in enumerate(raw_reasons):
            reason = _require_object(f"reasons[{index}]", item, frozenset({"code", "message"}))
            reasons.append(Reason(code=reason["code"], message=reason["message"]))
        return cls(
            iss=claims["iss"],
            iat=claims["iat"],
            jti=claims["jti"],
            sub=claims["sub"],
            agency=claims["agency"],
            op=claims["op"],
            purpose=claims["purpose"],
            legal_basis=LegalBasis(type=legal["type"], reference=legal["reference"]),
            decision=claims["decision"],
            reasons=tuple(reasons),
            obligations=claims["obligations"],
            policy_revision=claims["policy_revision"],
            input_digest=claims["input_digest"],
            log_seq=log["seq"],
            log_prev=log["prev"],
        )


def issue_receipt(key: SigningKey, claims: ReceiptClaims | Mapping[str, Any]) -> str:
    """Signs the claims as a compact JWS. The payload is the claims' RFC 8785 form, so the
    same decision always yields byte-identical receipts (Ed25519 is deterministic too)."""
    typed = claims if isinstance(claims, ReceiptClaims) else ReceiptClaims.from_json(claims)
    try:
        payload = canonical.dumps(typed.to_json())
    except CanonicalizationError as e:
        raise SigningError(f"claims: {e}") from e
    return jwt.api_jws.encode(
        payload,
        key.cryptography_key,
        algorithm=RECEIPT_ALG,
        headers={"kid": key.kid, "typ": RECEIPT_TYP},
    )


def _decode_segment(name: str, segment: str) -> Any:
    try:
        return canonical.parse_strict(b64url_decode(segment))
    except (ValueError, CanonicalizationError) as e:
        raise VerificationError(f"receipt {name}: {e}") from e


def receipt_kid(jws: str) -> str:
    """The `kid` a receipt's protected header names (read only; verify the receipt too)."""
    if not isinstance(jws, str) or len(jws) > MAX_RECEIPT_CHARS or jws.count(".") != 2:
        raise VerificationError("receipt: not a compact JWS string of reasonable size")
    header = _decode_segment("header", jws.split(".", 1)[0])
    kid = header.get("kid") if isinstance(header, dict) else None
    if not isinstance(kid, str):
        raise VerificationError("receipt header.kid: missing")
    return kid


def unverified_claims(jws: str) -> dict[str, Any]:
    """A receipt's payload WITHOUT checking its signature: only to find a receipt in a log
    (by `jti`) before proving it; never to trust what it says."""
    if not isinstance(jws, str) or len(jws) > MAX_RECEIPT_CHARS or jws.count(".") != 2:
        raise VerificationError("receipt: not a compact JWS string of reasonable size")
    payload = _decode_segment("payload", jws.split(".")[1])
    if not isinstance(payload, dict):
        raise VerificationError("receipt payload: not a JSON object")
    return payload


def verify_receipt(
    jws: str, jwks: Mapping[str, Any], *, issuer: str | None = None
) -> dict[str, Any]:
    """Verifies a receipt against a JWKS and returns its claims; raises VerificationError."""
    return ReceiptVerifier(jwks, issuer=issuer).verify(jws)


class ReceiptVerifier:
    """Verifies many receipts against one key set (parsed once)."""

    def __init__(self, jwks: Mapping[str, Any], *, issuer: str | None = None) -> None:
        self._keys = parse_jwks(jwks)
        self._issuer = issuer

    def verify(self, jws: str) -> dict[str, Any]:
        """Returns the claims of a valid receipt; raises VerificationError otherwise."""
        if not isinstance(jws, str) or len(jws) > MAX_RECEIPT_CHARS:
            raise VerificationError("receipt: not a compact JWS string of reasonable size")
        segments = jws.split(".")
        if len(segments) != 3 or not all(segments):
            raise VerificationError("receipt: a compact JWS has three non-empty parts")
        header = _decode_segment("header", segments[0])
        key = self._key_for(header)
        payload = _decode_segment("payload", segments[1])
        if not isinstance(payload, dict):
            raise VerificationError("receipt payload: not a JSON object")
        try:
            claims: dict[str, Any] = jwt.decode(
                jws,
                key.cryptography_key,
                algorithms=[RECEIPT_ALG],
                issuer=self._issuer,
                leeway=MAX_CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "iat", "jti", "sub"]},
            )
        except jwt.PyJWTError as e:
            raise VerificationError(f"receipt: {e}") from e
        try:
            ReceiptClaims.from_json(claims)
        except SigningError as e:
            raise VerificationError(f"receipt {e}") from e
        return claims

    def _key_for(self, header: object) -> VerifyingKey:
        """Checks the protected header member by member and finds the key it names."""
        if not isinstance(header, dict):
            raise VerificationError("receipt header: not a JSON object")
        if header.get("alg") != RECEIPT_ALG:
            raise VerificationError(f"receipt header.alg: {header.get('alg')!r} is not accepted")
        if header.get("typ") != RECEIPT_TYP:
            raise VerificationError(f"receipt header.typ: expected {RECEIPT_TYP!r}")
        unknown = set(header) - ALLOWED_HEADER_MEMBERS
        if unknown:
            raise VerificationError(f"receipt header: unsupported members {sorted(unknown)}")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise VerificationError("receipt header.kid: missing")
        key = self._keys.get(kid)
        if key is None:
            raise VerificationError(f"receipt header.kid: unknown key {kid!r}")
        return key
