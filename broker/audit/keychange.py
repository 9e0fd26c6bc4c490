"""Key-change entries: a new signing key announced in the log, endorsed by the key it replaces.

A "key" entry is signed by the key it announces (proof of possession). When it replaces an
active key, the old key also signs a rotation statement that names the log, the entry's exact
position and both key ids, so the endorsement cannot be replayed elsewhere in this log or in
another one. A verifier then follows an unbroken chain of keys from the first one; a key
change without an endorsement (the old key was lost) is trusted only through a key set the
verifier obtained independently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker import canonical
from broker.errors import VerificationError
from broker.keys import SigningKey, VerifyingKey, b64url_decode, b64url_encode

__all__ = ["ROTATION_CONTEXT", "Endorsement", "KeyAnnouncement", "rotation_statement"]

# Domain separation: the same key signs receipts (JWS input, base64url text), entries (JSON
# objects with exactly seq/prev/time/kind/body) and checkpoints (text starting with the
# origin); a statement with these members can be mistaken for none of them.
ROTATION_CONTEXT = "biometric-broker key rotation v1"


def rotation_statement(origin: str, seq: int, prev: str, old_kid: str, new_kid: str) -> bytes:
    """The RFC 8785 bytes the old key signs to hand over to the new one at entry `seq`."""
    return canonical.dumps(
        {
            "context": ROTATION_CONTEXT,
            "origin": origin,
            "seq": seq,
            "prev": prev,
            "old_kid": old_kid,
            "new_kid": new_kid,
        }
    )


@dataclass(frozen=True)
class Endorsement:
    """The old key's signature over the rotation statement."""

    kid: str
    signature: bytes

    @classmethod
    def sign(
        cls, old: SigningKey, *, origin: str, seq: int, prev: str, new_kid: str
    ) -> Endorsement:
        statement = rotation_statement(origin, seq, prev, old.kid, new_kid)
        return cls(old.kid, old.sign(statement))

    def verify(self, old: VerifyingKey, *, origin: str, seq: int, prev: str, new_kid: str) -> None:
        if old.kid != self.kid:
            raise VerificationError(f"endorsed by {self.kid}, not by the active key {old.kid}")
        old.verify(self.signature, rotation_statement(origin, seq, prev, old.kid, new_kid))

    def to_json(self) -> dict[str, str]:
        return {"kid": self.kid, "sig": b64url_encode(self.signature)}

    @classmethod
    def from_json(cls, doc: object) -> Endorsement:
        if not isinstance(doc, Mapping) or set(doc) != {"kid", "sig"}:
            raise VerificationError("endorsement must be an object with exactly kid and sig")
        kid, sig = doc["kid"], doc["sig"]
        if not isinstance(kid, str) or not kid:
            raise VerificationError("endorsement.kid must be a non-empty string")
        try:
            return cls(kid, b64url_decode(sig))
        except ValueError as e:
            raise VerificationError(f"endorsement.sig: {e}") from e


@dataclass(frozen=True)
class KeyAnnouncement:
    """The body of a "key" entry: the key, the log it signs for, and its endorsement."""

    key: VerifyingKey
    origin: str
    endorsement: Endorsement | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kid": self.key.kid,
            "jwk": self.key.public_jwk(),
            "origin": self.origin,
        }
        if self.endorsement is not None:
            body["endorsed_by"] = self.endorsement.to_json()
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> KeyAnnouncement:
        allowed = {"kid", "jwk", "origin", "endorsed_by"}
        unknown = set(body) - allowed
        if unknown:
            raise VerificationError(f"key entry: unexpected members {sorted(unknown)}")
        try:
            key = VerifyingKey.from_jwk(body.get("jwk"))  # type: ignore[arg-type]
        except VerificationError as e:
            raise VerificationError(f"key entry jwk: {e}") from e
        if body.get("kid") != key.kid:
            raise VerificationError("key entry: kid is not the announced key's thumbprint")
        origin = body.get("origin")
        if not isinstance(origin, str) or not origin:
            raise VerificationError("key entry has no origin")
        endorsement = None
        if "endorsed_by" in body:
            endorsement = Endorsement.from_json(body["endorsed_by"])
        return cls(key, origin, endorsement)
