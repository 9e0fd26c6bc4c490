"""C2SP signed-note (c2sp.org/signed-note), Ed25519 signatures (type 0x01) only.

A note is text ending in a newline, a blank line, then lines
"— <key name> <base64(4-byte key ID || signature)>". Verification follows the spec: signatures
from unknown keys are ignored; a signature from a known key (same name AND key ID) that fails
rejects the whole note; no verified known signature rejects it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from broker.errors import VerificationError
from broker.keys import ED25519_SIGNATURE_BYTES, SigningKey, VerifyingKey

__all__ = [
    "NoteSignature",
    "NoteVerifier",
    "SignedNote",
    "key_id",
    "open_note",
    "parse_note",
    "sign_note",
]

SIGNATURE_TYPE_ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
KEY_ID_BYTES = 4
# The spec asks verifiers to cap signatures (at least 16 must be accepted); Go's note uses 100.
MAX_SIGNATURES = 100
# Checkpoints are a few hundred bytes; a cap keeps parsing cheap for hostile input.
MAX_NOTE_CHARS = 1024 * 1024

_STD_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]."""
    return hashlib.sha256(
        name.encode("utf-8") + b"\n" + SIGNATURE_TYPE_ED25519 + public_key
    ).digest()[:KEY_ID_BYTES]


def valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode spaces, no '+' (signed-note "Format")."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class NoteVerifier:
    """A key a reader trusts, under the name it signs with."""

    name: str
    key: VerifyingKey

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key.raw)


def _check_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise VerificationError("note: not valid UTF-8") from e
    if _CONTROL.search(text):
        raise VerificationError("note: control characters other than newline are not allowed")


def _check_text(text: str) -> None:
    if not text.endswith("\n") or text == "\n":
        raise VerificationError("note: text must be non-empty and end with a newline")
    _check_utf8(text)


def sign_note(text: str, name: str, key: SigningKey) -> str:
    """The signed note: text, blank line, one Ed25519 signature line."""
    _check_text(text)
    if not valid_key_name(name):
        raise VerificationError(f"note: invalid key name {name!r}")
    blob = key_id(name, key.verifying_key.raw) + key.sign(text.encode("utf-8"))
    return f"{text}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(blob).decode('ascii')}\n"


def parse_note(message: str) -> SignedNote:
    """Splits a note into text and signature lines; checks syntax only, not signatures."""
    if not isinstance(message, str) or len(message) > MAX_NOTE_CHARS:
        raise VerificationError("note: not a string of reasonable size")
    _check_utf8(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise VerificationError("note: no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not text or not block.endswith("\n"):
        raise VerificationError("note: malformed (empty text or unterminated signature line)")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError(f"note: more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise VerificationError("note: a signature line must start with an em dash")
        name, sep, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep or not valid_key_name(name) or not _STD_BASE64.fullmatch(encoded):
            raise VerificationError("note: malformed signature line")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as e:
            raise VerificationError("note: signature is not base64") from e
        if len(blob) <= KEY_ID_BYTES:
            raise VerificationError("note: signature too short")
        signatures.append(NoteSignature(name, blob[:KEY_ID_BYTES], blob[KEY_ID_BYTES:]))
    return SignedNote(text, tuple(signatures))


def open_note(message: str, verifiers: Sequence[NoteVerifier]) -> SignedNote:
    """Parses and verifies a note; returns it with only the verified signatures."""
    note = parse_note(message)
    known = {(v.name, v.key_id): v for v in verifiers}
    if len(known) != len(verifiers):
        raise VerificationError("note: two trusted keys share a name and key ID")
    verified: list[NoteSignature] = []
    data = note.text.encode("utf-8")
    for signature in note.signatures:
        verifier = known.get((signature.name, signature.key_id))
        if verifier is None:
            continue  # unknown keys are ignored (signed-note "Signatures")
        if len(signature.signature) != ED25519_SIGNATURE_BYTES:
            raise VerificationError(f"note: signature by {signature.name} has the wrong length")
        try:
            verifier.key.verify(signature.signature, data)
        except VerificationError as e:
            raise VerificationError(f"note: invalid signature by {signature.name}") from e
        if signature not in verified:
            verified.append(signature)
    if not verified:
        raise VerificationError("note: no signature from a trusted key")
    return SignedNote(note.text, tuple(verified))
