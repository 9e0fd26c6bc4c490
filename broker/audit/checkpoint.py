"""C2SP tlog-checkpoint: the signed (origin, tree size, root hash) of the audit log.

Anyone holding a checkpoint can later prove the log was truncated or rewritten: the log must
still contain a tree of that size with that root.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from broker.audit.merkle import HASH_SIZE
from broker.audit.note import NoteVerifier, open_note, sign_note
from broker.errors import VerificationError
from broker.keys import SigningKey, VerifyingKey

__all__ = [
    "Checkpoint",
    "SignedCheckpoint",
    "parse_and_verify_checkpoint",
    "sign_checkpoint",
    "valid_origin",
]

# A schema-less URL (tlog-checkpoint recommends one). The first character is never '{', so a
# checkpoint body can never be mistaken for a signed JSON audit entry under the same key.
_ORIGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:/@%-]{0,254}")
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


def valid_origin(origin: str) -> bool:
    return isinstance(origin, str) and bool(_ORIGIN.fullmatch(origin))


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: `size` leaves hashing to `root` in the log named `origin`."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not valid_origin(self.origin):
            raise VerificationError(f"checkpoint origin {self.origin!r} is not a log name")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise VerificationError("checkpoint size must be a non-negative integer")
        if len(self.root) != HASH_SIZE:
            raise VerificationError("checkpoint root must be 32 bytes")
        for line in self.extensions:
            if not line or "\n" in line:
                raise VerificationError("checkpoint extension lines must be single, non-empty")

    def body(self) -> str:
        """The note text: origin, size, base64 root, extension lines, each newline-ended."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "".join(f"{line}\n" for line in (*lines, *self.extensions))

    @classmethod
    def from_body(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise VerificationError("checkpoint: needs origin, size and root lines")
        origin, size, encoded, *extensions = lines[:-1]
        if not _SIZE.fullmatch(size):
            raise VerificationError(f"checkpoint: tree size {size!r} is not a decimal number")
        try:
            root = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as e:
            raise VerificationError("checkpoint: root hash is not base64") from e
        if base64.b64encode(root).decode("ascii") != encoded:
            raise VerificationError("checkpoint: root hash is not canonical base64")
        return cls(origin, int(size), root, tuple(extensions))


@dataclass(frozen=True)
class SignedCheckpoint:
    """A verified tree head and the exact signed note it came from (what a proof embeds)."""

    checkpoint: Checkpoint
    text: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        return self.checkpoint.root


def sign_checkpoint(checkpoint: Checkpoint, key: SigningKey, *, key_name: str | None = None) -> str:
    """The signed note; the key name defaults to the origin (tlog-checkpoint "Signatures")."""
    return sign_note(checkpoint.body(), key_name or checkpoint.origin, key)


def parse_and_verify_checkpoint(
    text: str,
    keys: VerifyingKey | Sequence[VerifyingKey],
    origin: str,
    *,
    key_name: str | None = None,
) -> Checkpoint:
    """Verifies a checkpoint signed by one of `keys` for log `origin`; returns its tree head."""
    trusted = [keys] if isinstance(keys, VerifyingKey) else list(keys)
    name = key_name or origin
    note = open_note(text, [NoteVerifier(name, key) for key in trusted])
    checkpoint = Checkpoint.from_body(note.text)
    if checkpoint.origin != origin:
        raise VerificationError(
            f"checkpoint: origin {checkpoint.origin!r} is not the expected {origin!r}"
        )
    return checkpoint
