"""Inclusion and consistency proofs from a log: the live writer (AuditLog, for the RPCs) or a
read-only snapshot of its directory (LogSnapshot, for `broker audit prove`).

A proof is only useful against a signed tree head, so each answer carries the checkpoint it
was computed for: by default the latest one, which the live log signs on demand when the entry
asked about is newer than it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from broker.audit.checkpoint import SignedCheckpoint
from broker.audit.entry import SignedEntry
from broker.audit.proof import ConsistencyBundle, InclusionBundle
from broker.errors import VerificationError
from broker.receipts import ReceiptVerifier

__all__ = [
    "ConsistencyAnswer",
    "InclusionAnswer",
    "ProofSource",
    "prove_consistency",
    "prove_inclusion",
    "seq_of_receipt",
]


class ProofSource(Protocol):
    @property
    def size(self) -> int: ...

    def leaf_hash(self, seq: int) -> bytes: ...

    def tree_root(self, size: int) -> bytes: ...

    def entry(self, seq: int) -> SignedEntry: ...

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]: ...

    def latest_checkpoint(self, *, covering: int = 0) -> SignedCheckpoint | None: ...


@dataclass(frozen=True)
class InclusionAnswer:
    seq: int
    tree_size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: SignedCheckpoint | None  # of tree_size, when the log has it
    entry: bytes | None  # canonical entry bytes, when asked for

    def bundle(self) -> InclusionBundle:
        """The C2SP tlog-proof; needs the checkpoint."""
        if self.checkpoint is None:
            raise VerificationError(f"no signed checkpoint of tree size {self.tree_size}")
        return InclusionBundle(self.seq, self.proof, self.checkpoint.text, self.entry)


@dataclass(frozen=True)
class ConsistencyAnswer:
    old_size: int
    new_size: int
    old_root: bytes
    proof: tuple[bytes, ...]
    checkpoint: SignedCheckpoint | None  # of new_size, when the log has it

    def bundle(self, old_checkpoint: str | None = None) -> ConsistencyBundle:
        if self.checkpoint is None:
            raise VerificationError(f"no signed checkpoint of tree size {self.new_size}")
        return ConsistencyBundle(
            self.old_size, self.old_root, self.checkpoint.text, self.proof, old_checkpoint
        )


def prove_inclusion(
    source: ProofSource, seq: int, *, tree_size: int | None = None, with_entry: bool = False
) -> InclusionAnswer:
    """Entry `seq` in the tree of `tree_size` entries (default: the latest checkpoint's)."""
    checkpoint: SignedCheckpoint | None
    if tree_size is None:
        checkpoint = source.latest_checkpoint(covering=seq + 1)
        if checkpoint is None:
            raise VerificationError("the log has no checkpoint yet")
        tree_size = checkpoint.size
    else:
        latest = source.latest_checkpoint()
        checkpoint = latest if latest is not None and latest.size == tree_size else None
    proof = tuple(source.inclusion_proof(seq, tree_size))
    entry = source.entry(seq).entry.canonical_bytes() if with_entry else None
    return InclusionAnswer(seq, tree_size, source.leaf_hash(seq), proof, checkpoint, entry)


def prove_consistency(
    source: ProofSource, old_size: int, new_size: int | None = None
) -> ConsistencyAnswer:
    """The tree of `old_size` entries is a prefix of `new_size`'s (default: the latest
    checkpoint's)."""
    checkpoint: SignedCheckpoint | None
    if new_size is None:
        checkpoint = source.latest_checkpoint(covering=max(old_size, 1))
        if checkpoint is None:
            raise VerificationError("the log has no checkpoint yet")
        new_size = checkpoint.size
    else:
        latest = source.latest_checkpoint()
        checkpoint = latest if latest is not None and latest.size == new_size else None
    proof = tuple(source.consistency_proof(old_size, new_size))
    return ConsistencyAnswer(old_size, new_size, source.tree_root(old_size), proof, checkpoint)


def seq_of_receipt(source: ProofSource, receipt_jws: str, verifier: ReceiptVerifier) -> int:
    """The seq of the decision entry holding exactly this receipt, which must verify against
    the log's keys. Presenting the receipt proves the caller holds it: the entry it unlocks
    holds nothing else but the entry's time and position."""
    claims = verifier.verify(receipt_jws)
    seq = claims["log"]["seq"]
    if not 0 <= seq < source.size:
        raise VerificationError(f"receipt: entry {seq} is not in the log (yet)")
    entry = source.entry(seq).entry
    if entry.kind != "decision" or entry.body.get("receipt") != receipt_jws:
        raise VerificationError(f"receipt: entry {seq} of this log does not hold this receipt")
    return int(seq)
