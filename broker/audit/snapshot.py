"""A read-only view of a log directory as it is now, for proofs made offline.

The writer may keep appending meanwhile, so the checkpoint is read before the entries (a
checkpoint never covers entries the file does not hold yet) and an incomplete last line is
left out (an append in progress, or a torn tail the writer repairs on its next open). It checks
what a proof rests on (seq continuity, the prev chain, the checkpoint's signature and root);
`broker audit verify` checks everything else.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.audit import merkle
from broker.audit.checkpoint import SignedCheckpoint, parse_and_verify_checkpoint
from broker.audit.entry import GENESIS_PREV, SignedEntry
from broker.audit.layout import LogLayout, read_lines
from broker.errors import VerificationError
from broker.keys import VerifyingKey, load_jwks, parse_jwks
from broker.receipts import unverified_claims

__all__ = ["LogSnapshot"]


@dataclass
class LogSnapshot:
    layout: LogLayout
    keys: dict[str, VerifyingKey]
    origin: str | None = None
    tree: merkle.MerkleTree = field(default_factory=merkle.MerkleTree)
    offsets: array[int] = field(default_factory=lambda: array("Q"))
    end: int = 0
    checkpoint: SignedCheckpoint | None = None
    receipts: dict[str, int] = field(default_factory=dict)  # jti -> seq of its decision entry

    @classmethod
    def load(cls, directory: Path, *, jwks: Mapping[str, Any] | None = None) -> LogSnapshot:
        layout = LogLayout(Path(directory))
        if not layout.log.is_file():
            raise VerificationError(f"{layout.log}: no log file")
        keys = parse_jwks(jwks if jwks is not None else load_jwks(layout.jwks))
        snapshot = cls(layout, keys)
        checkpoint_text = _read_checkpoint(layout)
        try:
            snapshot._read_entries()
        except OSError as e:
            raise VerificationError(f"{layout.log}: unreadable: {e}") from e
        if checkpoint_text is not None:
            snapshot.checkpoint = snapshot._check(checkpoint_text)
        return snapshot

    def _read_entries(self) -> None:
        head = GENESIS_PREV
        for raw in read_lines(self.layout.log):
            if not raw.complete:
                break
            try:
                signed = SignedEntry.parse_line(raw.data)
            except VerificationError as e:
                raise VerificationError(f"entry {raw.index}: {e}") from e
            entry = signed.entry
            if entry.seq != raw.index or entry.prev != head:
                raise VerificationError(
                    f"entry {raw.index}: out of sequence or off the chain "
                    "(run `broker audit verify`)"
                )
            if entry.kind == "key" and self.origin is None:
                origin = entry.body.get("origin")
                self.origin = origin if isinstance(origin, str) else None
            elif entry.kind == "decision":
                self._index_receipt(raw.index, entry.body.get("receipt"))
            leaf = entry.hash()
            self.tree.append(leaf)
            self.offsets.append(raw.offset)
            self.end = raw.offset + len(raw.data) + 1
            head = leaf.hex()

    def _index_receipt(self, seq: int, receipt: object) -> None:
        try:
            jti = unverified_claims(receipt).get("jti") if isinstance(receipt, str) else None
        except VerificationError:
            jti = None
        if isinstance(jti, str):
            self.receipts.setdefault(jti, seq)

    def _check(self, text: str) -> SignedCheckpoint:
        origin = self.origin or text.split("\n", 1)[0]
        try:
            checkpoint = parse_and_verify_checkpoint(text, list(self.keys.values()), origin)
        except VerificationError as e:
            raise VerificationError(f"{self.layout.checkpoint}: {e}") from e
        if checkpoint.size > self.tree.size:
            raise VerificationError(
                f"the checkpoint covers {checkpoint.size} entries but the log holds "
                f"{self.tree.size} (truncated)"
            )
        if self.tree.root(checkpoint.size) != checkpoint.root:
            raise VerificationError(
                f"the log's first {checkpoint.size} entries do not match its checkpoint"
            )
        return SignedCheckpoint(checkpoint, text)

    # -- the ProofSource interface --------------------------------------------------------

    @property
    def size(self) -> int:
        return self.tree.size

    def leaf_hash(self, seq: int) -> bytes:
        self._check_seq(seq, self.tree.size)
        return self.tree.leaf(seq)

    def tree_root(self, size: int) -> bytes:
        self._check_size("tree_size", size)
        return self.tree.root(size)

    def entry(self, seq: int) -> SignedEntry:
        self._check_seq(seq, self.tree.size)
        start = self.offsets[seq]
        end = self.offsets[seq + 1] if seq + 1 < len(self.offsets) else self.end
        try:
            with self.layout.log.open("rb") as f:
                f.seek(start)
                data = f.read(end - start)
        except OSError as e:
            raise VerificationError(f"{self.layout.log}: unreadable: {e}") from e
        signed = SignedEntry.parse_line(data.rstrip(b"\n"))
        if signed.entry.hash() != self.tree.leaf(seq):
            raise VerificationError(f"entry {seq}: changed on disk while being proved")
        return signed

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[bytes]:
        size = self.tree.size if tree_size is None else tree_size
        self._check_size("tree_size", size)
        self._check_seq(seq, size)
        return self.tree.inclusion_proof(seq, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        size = self.tree.size if new_size is None else new_size
        self._check_size("new_size", size)
        if not 0 <= old_size <= size:
            raise VerificationError(f"old_size: {old_size} exceeds the tree of {size} entries")
        return self.tree.consistency_proof(old_size, size)

    def latest_checkpoint(self, *, covering: int = 0) -> SignedCheckpoint | None:
        """The directory's checkpoint; offline nothing can be signed, so a checkpoint that
        does not cover `covering` entries yet is an error saying when one will."""
        have = 0 if self.checkpoint is None else self.checkpoint.size
        if covering > have:
            raise VerificationError(
                f"entry {covering - 1} is newer than the log's latest checkpoint (size {have}); "
                "the writer signs the next one after its configured number of entries or "
                "seconds, or on demand for the GetInclusionProof call"
            )
        return self.checkpoint

    def seq_of_receipt(self, jti: str) -> int:
        seq = self.receipts.get(jti)
        if seq is None:
            raise VerificationError(f"jti: no decision entry holds a receipt with id {jti!r}")
        return seq

    def _check_size(self, name: str, size: int) -> None:
        if not 0 <= size <= self.tree.size:
            raise VerificationError(f"{name}: {size} exceeds the log's {self.tree.size} entries")

    @staticmethod
    def _check_seq(seq: int, size: int) -> None:
        if not 0 <= seq < size:
            raise VerificationError(f"seq: {seq} is not in a tree of {size} entries")


def _read_checkpoint(layout: LogLayout) -> str | None:
    try:
        return layout.checkpoint.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise VerificationError(f"{layout.checkpoint}: unreadable: {e}") from e
