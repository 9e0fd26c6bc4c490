"""One audit log entry, its hash, its signature and its line on disk.

An entry is {"seq", "prev", "time", "kind", "body"}. Its hash is the RFC 6962 leaf hash of
its RFC 8785 canonical bytes, SHA-256(0x00 || canonical(entry)), so the hash chain and the
Merkle tree agree on what an entry is. On disk one line holds
{"entry": {...}, "kid": <RFC 7638 kid>, "sig": <base64url Ed25519 over canonical(entry)>},
itself in canonical form, so any byte changed in a line is detectable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker import canonical
from broker.audit.merkle import leaf_hash
from broker.errors import CanonicalizationError, VerificationError
from broker.keys import SigningKey, VerifyingKey, b64url_decode, b64url_encode
from broker.rfc3339 import format_utc, parse

__all__ = ["GENESIS_PREV", "KINDS", "MAX_LINE_BYTES", "Entry", "SignedEntry"]

GENESIS_PREV = "0" * 64
# "shadow": a candidate policy's divergence from the active one (broker/policy/shadow.py).
KINDS = frozenset({"decision", "outcome", "policy", "key", "recovery", "shadow"})
# An entry holds a receipt and hashed record ids, a few KiB; the cap bounds memory when
# reading a hostile or corrupt log.
MAX_LINE_BYTES = 1024 * 1024

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ENTRY_MEMBERS = frozenset({"seq", "prev", "time", "kind", "body"})
_LINE_MEMBERS = frozenset({"entry", "kid", "sig"})


def _members(what: str, doc: object, names: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise VerificationError(f"{what} is not a JSON object")
    if set(doc) != names:
        raise VerificationError(f"{what} must have exactly the members {sorted(names)}")
    return doc


@dataclass(frozen=True)
class Entry:
    seq: int
    prev: str
    time: str
    kind: str
    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not isinstance(self.seq, int) or self.seq < 0:
            raise VerificationError("seq must be a non-negative integer")
        if not isinstance(self.prev, str) or not _HEX64.fullmatch(self.prev):
            raise VerificationError("prev must be 64 lowercase hex digits")
        if (self.seq == 0) != (self.prev == GENESIS_PREV):
            raise VerificationError("prev is all zeros exactly for entry 0")
        if not isinstance(self.time, str):
            raise VerificationError("time must be an RFC 3339 string")
        try:
            canonical_time = format_utc(parse(self.time))
        except ValueError as e:
            raise VerificationError(f"time {self.time!r} is not RFC 3339") from e
        if canonical_time != self.time:
            raise VerificationError(f"time {self.time!r} is not in UTC 'Z' form")
        if self.kind not in KINDS:
            raise VerificationError(f"kind {self.kind!r} is not one of {sorted(KINDS)}")
        if not isinstance(self.body, Mapping):
            raise VerificationError("body must be a JSON object")

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "prev": self.prev,
            "time": self.time,
            "kind": self.kind,
            "body": dict(self.body),
        }

    def canonical_bytes(self) -> bytes:
        try:
            return canonical.dumps(self.to_json())
        except CanonicalizationError as e:
            raise VerificationError(f"body has no canonical form: {e}") from e

    def hash(self) -> bytes:
        """SHA-256(0x00 || canonical(entry)): the chain link and the Merkle leaf."""
        return leaf_hash(self.canonical_bytes())

    @classmethod
    def from_json(cls, doc: object) -> Entry:
        fields = _members("entry", doc, _ENTRY_MEMBERS)
        return cls(fields["seq"], fields["prev"], fields["time"], fields["kind"], fields["body"])


@dataclass(frozen=True)
class SignedEntry:
    entry: Entry
    kid: str
    signature: bytes

    @classmethod
    def sign(cls, entry: Entry, key: SigningKey) -> SignedEntry:
        return cls(entry, key.kid, key.sign(entry.canonical_bytes()))

    def verify(self, key: VerifyingKey) -> None:
        if key.kid != self.kid:
            raise VerificationError(f"signed by {self.kid}, not by {key.kid}")
        key.verify(self.signature, self.entry.canonical_bytes())

    def to_line(self, entry_bytes: bytes | None = None) -> bytes:
        """The canonical line and a newline; `entry_bytes` saves recomputing canonical(entry).

        Built by hand because the members "entry" < "kid" < "sig" are already in RFC 8785
        order; canonical JSON never contains a raw newline, so one line is one entry.
        """
        if entry_bytes is None:
            entry_bytes = self.entry.canonical_bytes()
        kid = canonical.dumps(self.kid)
        sig = canonical.dumps(b64url_encode(self.signature))
        return b'{"entry":' + entry_bytes + b',"kid":' + kid + b',"sig":' + sig + b"}\n"

    @classmethod
    def parse_line(cls, line: bytes) -> SignedEntry:
        """Parses one line (without its newline); it must be exactly the canonical form."""
        if len(line) > MAX_LINE_BYTES:
            raise VerificationError(f"line longer than {MAX_LINE_BYTES} bytes")
        try:
            doc = canonical.parse_strict(line)
        except CanonicalizationError as e:
            raise VerificationError(f"unreadable line: {e}") from e
        fields = _members("line", doc, _LINE_MEMBERS)
        if not isinstance(fields["kid"], str) or not fields["kid"]:
            raise VerificationError("kid must be a non-empty string")
        try:
            signature = b64url_decode(fields["sig"])
        except ValueError as e:
            raise VerificationError(f"sig: {e}") from e
        signed = cls(Entry.from_json(fields["entry"]), fields["kid"], signature)
        try:
            canonical_line = signed.to_line()
        except CanonicalizationError as e:
            raise VerificationError(f"line has no canonical form: {e}") from e
        if canonical_line != line + b"\n":
            raise VerificationError("line is not in RFC 8785 canonical form")
        return signed
