"""Proof bundles a third party verifies offline with the log's public keys alone.

Inclusion: C2SP tlog-proof (c2sp.org/tlog-proof@v1): the header line, `extra` (here: the
entry's RFC 8785 bytes, which the leaf hash is computed from, so the verifier needs nothing
else), `index`, the RFC 6962 audit path one base64 hash per line, an empty line, and the
checkpoint verbatim. The extra data is not authenticated by the format; it does not need to
be: only the exact entry hashes to a leaf the signed tree contains.

Consistency: C2SP defines no consistency bundle, so this is our own, as plain as the spec's
style allows: canonical JSON naming both tree heads (the old one as a signed checkpoint when
the prover has it) and the RFC 6962 consistency path.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker import canonical
from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, parse_and_verify_checkpoint
from broker.audit.entry import MAX_LINE_BYTES, Entry
from broker.errors import CanonicalizationError, RollbackError, VerificationError
from broker.keys import VerifyingKey

__all__ = [
    "CONSISTENCY_FORMAT",
    "TLOG_PROOF_HEADER",
    "ConsistencyBundle",
    "InclusionBundle",
    "VerifiedInclusion",
    "verify_consistency_bundle",
    "verify_inclusion_bundle",
]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_FORMAT = "biometric-broker/tlog-consistency@v1"
# RFC 6962 paths have one hash per tree level; 64 levels cover any tree a uint64 can count.
MAX_PROOF_HASHES = 64
# The largest entry (MAX_LINE_BYTES) in base64, plus the proof and two checkpoints.
MAX_BUNDLE_CHARS = 2 * MAX_LINE_BYTES

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _unb64(what: str, text: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4): one spelling per value."""
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerificationError(f"{what}: not base64") from e
    if _b64(value) != text:
        raise VerificationError(f"{what}: not canonical base64")
    return value


def _hash(what: str, text: str) -> bytes:
    value = _unb64(what, text)
    if len(value) != merkle.HASH_SIZE:
        raise VerificationError(f"{what}: a hash is 32 bytes, not {len(value)}")
    return value


def _check_path(path: Sequence[bytes]) -> None:
    if len(path) > MAX_PROOF_HASHES:
        raise VerificationError(f"proof: more than {MAX_PROOF_HASHES} hashes")
    for position, node in enumerate(path):
        if len(node) != merkle.HASH_SIZE:
            raise VerificationError(f"proof[{position}]: a hash is 32 bytes")


def _origin_of(checkpoint_text: str) -> str:
    return checkpoint_text.split("\n", 1)[0]


@dataclass(frozen=True)
class InclusionBundle:
    """A C2SP tlog-proof: entry `index` is in the tree `checkpoint` signs."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim
    extra: bytes | None = None  # the entry's canonical bytes

    def __post_init__(self) -> None:
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise VerificationError("index must be a non-negative integer")
        _check_path(self.proof)
        if not self.checkpoint.endswith("\n"):
            raise VerificationError("checkpoint: a signed note ends with a newline")
        if self.extra is not None and not self.extra:
            raise VerificationError("extra: empty")

    def to_text(self) -> str:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {_b64(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(_b64(node) for node in self.proof)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, text: str) -> InclusionBundle:
        if not isinstance(text, str) or len(text) > MAX_BUNDLE_CHARS:
            raise VerificationError("tlog-proof: not text of reasonable size")
        lines = text.split("\n")
        if lines[0] != TLOG_PROOF_HEADER:
            raise VerificationError(f"tlog-proof: the first line must be {TLOG_PROOF_HEADER}")
        at = 1
        extra = None
        if at < len(lines) and lines[at].startswith("extra "):
            extra = _unb64("tlog-proof extra", lines[at].removeprefix("extra "))
            at += 1
        if at >= len(lines) or not lines[at].startswith("index "):
            raise VerificationError("tlog-proof: an 'index N' line must follow")
        index_text = lines[at].removeprefix("index ")
        if not _DECIMAL.fullmatch(index_text):
            raise VerificationError(f"tlog-proof: index {index_text!r} is not a decimal number")
        at += 1
        path: list[bytes] = []
        while at < len(lines) and lines[at]:
            if len(path) == MAX_PROOF_HASHES:
                raise VerificationError(f"tlog-proof: more than {MAX_PROOF_HASHES} hashes")
            path.append(_hash(f"tlog-proof hash {len(path)}", lines[at]))
            at += 1
        if at >= len(lines) - 1:
            raise VerificationError("tlog-proof: no empty line and checkpoint after the proof")
        checkpoint = "\n".join(lines[at + 1 :])
        return cls(int(index_text), tuple(path), checkpoint, extra)


@dataclass(frozen=True)
class VerifiedInclusion:
    """What a verified inclusion bundle proves."""

    index: int
    leaf_hash: bytes
    checkpoint: Checkpoint
    entry: Entry | None  # decoded from `extra`, when the bundle carries it


def verify_inclusion_bundle(
    bundle: InclusionBundle,
    keys: Sequence[VerifyingKey],
    *,
    origin: str | None = None,
    leaf_hash: bytes | None = None,
) -> VerifiedInclusion:
    """Returns only if the checkpoint is signed by one of `keys` for log `origin` (default:
    the one it names) and the entry (from `extra`, or `leaf_hash`) is at `index` in its tree."""
    claimed = _origin_of(bundle.checkpoint)
    if origin is not None and claimed != origin:
        raise VerificationError(f"checkpoint: origin {claimed!r} is not the expected {origin!r}")
    try:
        checkpoint = parse_and_verify_checkpoint(bundle.checkpoint, keys, origin or claimed)
    except VerificationError as e:
        raise VerificationError(f"checkpoint: {e}") from e
    if bundle.extra is not None:
        leaf = merkle.leaf_hash(bundle.extra)
        if leaf_hash is not None and leaf_hash != leaf:
            raise VerificationError("extra: the entry does not hash to the given leaf hash")
    elif leaf_hash is not None:
        leaf = leaf_hash
    else:
        raise VerificationError("tlog-proof: no entry (extra) and no leaf hash to prove")
    if bundle.index >= checkpoint.size:
        raise VerificationError(
            f"index {bundle.index} is not in the checkpoint's tree of {checkpoint.size}"
        )
    merkle.verify_inclusion(leaf, bundle.index, checkpoint.size, bundle.proof, checkpoint.root)
    entry = None if bundle.extra is None else _entry(bundle.extra, bundle.index)
    return VerifiedInclusion(bundle.index, leaf, checkpoint, entry)


def _entry(extra: bytes, index: int) -> Entry:
    try:
        entry = Entry.from_json(canonical.parse_strict(extra))
    except (CanonicalizationError, VerificationError) as e:
        raise VerificationError(f"extra: not an audit entry: {e}") from e
    if entry.canonical_bytes() != extra:
        raise VerificationError("extra: not the entry's RFC 8785 canonical form")
    if entry.seq != index:
        raise VerificationError(f"extra: the entry's seq {entry.seq} is not the index {index}")
    return entry


@dataclass(frozen=True)
class ConsistencyBundle:
    """The tree of `old_size` entries with root `old_root` is a prefix of the one
    `new_checkpoint` signs. `old_checkpoint` is the signed old head, when the prover had it."""

    old_size: int
    old_root: bytes
    new_checkpoint: str
    proof: tuple[bytes, ...]
    old_checkpoint: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.old_size, bool) or not isinstance(self.old_size, int):
            raise VerificationError("old_size must be an integer")
        if self.old_size < 0 or len(self.old_root) != merkle.HASH_SIZE:
            raise VerificationError("old_size must be >= 0 and old_root 32 bytes")
        _check_path(self.proof)

    def to_text(self) -> str:
        doc: dict[str, Any] = {
            "format": CONSISTENCY_FORMAT,
            "old_size": self.old_size,
            "old_root": _b64(self.old_root),
            "new_checkpoint": self.new_checkpoint,
            "proof": [_b64(node) for node in self.proof],
        }
        if self.old_checkpoint is not None:
            doc["old_checkpoint"] = self.old_checkpoint
        return canonical.dumps(doc).decode("utf-8") + "\n"

    @classmethod
    def from_text(cls, text: str) -> ConsistencyBundle:
        if not isinstance(text, str) or len(text) > MAX_BUNDLE_CHARS:
            raise VerificationError("consistency bundle: not text of reasonable size")
        try:
            doc = canonical.parse_strict(text)
        except CanonicalizationError as e:
            raise VerificationError(f"consistency bundle: {e}") from e
        if not isinstance(doc, Mapping) or doc.get("format") != CONSISTENCY_FORMAT:
            raise VerificationError(f"consistency bundle: format is not {CONSISTENCY_FORMAT}")
        allowed = {"format", "old_size", "old_root", "new_checkpoint", "proof", "old_checkpoint"}
        if set(doc) - allowed or not {"old_size", "old_root", "new_checkpoint", "proof"} <= set(
            doc
        ):
            raise VerificationError(f"consistency bundle: expected the members {sorted(allowed)}")
        proof, old_checkpoint = doc["proof"], doc.get("old_checkpoint")
        if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
            raise VerificationError("consistency bundle: proof must be a list of base64 hashes")
        if len(proof) > MAX_PROOF_HASHES:
            raise VerificationError(f"consistency bundle: more than {MAX_PROOF_HASHES} hashes")
        if not isinstance(doc["new_checkpoint"], str) or not isinstance(doc["old_root"], str):
            raise VerificationError("consistency bundle: checkpoints and roots are strings")
        if old_checkpoint is not None and not isinstance(old_checkpoint, str):
            raise VerificationError("consistency bundle: old_checkpoint must be a string")
        return cls(
            old_size=doc["old_size"],
            old_root=_hash("old_root", doc["old_root"]),
            new_checkpoint=doc["new_checkpoint"],
            proof=tuple(_hash(f"proof[{i}]", p) for i, p in enumerate(proof)),
            old_checkpoint=old_checkpoint,
        )


def verify_consistency_bundle(
    bundle: ConsistencyBundle,
    keys: Sequence[VerifyingKey],
    *,
    origin: str | None = None,
    held: str | None = None,
) -> tuple[Checkpoint, Checkpoint]:
    """Returns (old, new) tree heads, only if the new checkpoint is signed by one of `keys`,
    the old head is vouched for (by the bundle's signed old checkpoint or by `held`, a
    checkpoint the caller kept), and the proof shows the old tree is a prefix of the new."""
    name = origin or _origin_of(bundle.new_checkpoint)
    try:
        new = parse_and_verify_checkpoint(bundle.new_checkpoint, keys, name)
    except VerificationError as e:
        raise VerificationError(f"new checkpoint: {e}") from e
    if bundle.old_size > new.size:
        raise RollbackError(f"old size {bundle.old_size} is larger than the new {new.size}")
    old = Checkpoint(name, bundle.old_size, bundle.old_root)
    vouching = [("old checkpoint", t) for t in (bundle.old_checkpoint,) if t is not None]
    vouching += [("held checkpoint", t) for t in (held,) if t is not None]
    if not vouching:
        raise VerificationError(
            "nothing signed vouches for the old tree head: pass the checkpoint you hold"
        )
    for label, text in vouching:
        try:
            signed = parse_and_verify_checkpoint(text, keys, name)
        except VerificationError as e:
            raise VerificationError(f"{label}: {e}") from e
        if signed.size > new.size:
            raise RollbackError(
                f"{label}: size {signed.size} is larger than the new checkpoint's {new.size}"
            )
        if (signed.size, signed.root) != (old.size, old.root):
            raise VerificationError(f"{label}: is not the bundle's old tree head")
    merkle.verify_consistency(old.size, new.size, old.root, new.root, bundle.proof)
    return old, new
