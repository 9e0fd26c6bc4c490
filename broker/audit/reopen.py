"""Reading an existing log back when its writer opens it: the scan, the stored checkpoint, and
the repair of a torn last line.

The writer refuses to append to anything it cannot fully account for: every complete line must
parse, chain and carry a known signer; the stored checkpoint must verify and still match the
log's prefix. Only an incomplete last line (a write the crash interrupted, never acknowledged)
is cut off, and the cut is recorded durably before it happens.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.audit import merkle
from broker.audit.checkpoint import SignedCheckpoint, parse_and_verify_checkpoint
from broker.audit.durable import Fsync, write_atomic
from broker.audit.entry import GENESIS_PREV, MAX_LINE_BYTES, SignedEntry
from broker.audit.layout import LogLayout, read_lines
from broker.errors import AuditError, VerificationError
from broker.keys import VerifyingKey

__all__ = [
    "LogScan",
    "Truncation",
    "check_stored_checkpoint",
    "cut_torn_tail",
    "pending_truncations",
    "read_entry_line",
    "scan_log",
]


@dataclass(frozen=True)
class Truncation:
    """Bytes cut off the end of the log file: where, how many, and their SHA-256."""

    offset: int
    length: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"offset": self.offset, "length": self.length, "sha256": self.sha256}


@dataclass
class LogScan:
    """What reading an existing log file found."""

    tree: merkle.MerkleTree = field(default_factory=merkle.MerkleTree)
    offsets: array[int] = field(default_factory=lambda: array("Q"))  # start of each line
    head: bytes | None = None
    announced: list[str] = field(default_factory=list)  # kids of the key entries, in order
    active_since: int = -1  # seq of the active key's own key entry
    origin: str | None = None
    end_offset: int = 0
    torn: Truncation | None = None

    @property
    def active_kid(self) -> str | None:
        """The key that announced itself last: the only one that may sign next."""
        return self.announced[-1] if self.announced else None


def _corrupt(index: int, message: str) -> AuditError:
    return AuditError(
        f"entry {index}: {message}; refusing to append to a damaged log "
        "(run `broker audit verify` on it)"
    )


def scan_log(layout: LogLayout, keys: dict[str, VerifyingKey]) -> LogScan:
    """Reads every line: hashes, seq and prev continuity, the signer of each key change, and
    the signature of the last entry. A torn last line is reported, anything else refused."""
    scan = LogScan()
    last: SignedEntry | None = None
    signers: set[str] = set()
    for raw in read_lines(layout.log):
        if not raw.complete:
            if len(raw.data) > MAX_LINE_BYTES:
                raise AuditError(f"entry {raw.index}: line longer than {MAX_LINE_BYTES} bytes")
            digest = hashlib.sha256(raw.data).hexdigest()
            scan.torn = Truncation(raw.offset, len(raw.data), digest)
            break
        try:
            signed = SignedEntry.parse_line(raw.data)
        except VerificationError as e:
            raise _corrupt(raw.index, str(e)) from e
        entry = signed.entry
        if entry.seq != raw.index:
            raise _corrupt(raw.index, f"has seq {entry.seq}")
        prev = GENESIS_PREV if scan.head is None else scan.head.hex()
        if entry.prev != prev:
            raise _corrupt(raw.index, f"prev does not match hash of entry {raw.index - 1}")
        if entry.kind == "key":
            scan.announced.append(signed.kid)
            scan.active_since = entry.seq
            origin = entry.body.get("origin")
            scan.origin = origin if isinstance(origin, str) else scan.origin
        leaf = entry.hash()
        scan.tree.append(leaf)
        scan.offsets.append(raw.offset)
        scan.head = leaf
        scan.end_offset = raw.offset + len(raw.data) + 1
        signers.add(signed.kid)
        last = signed
    unknown = signers - keys.keys()
    if unknown:
        raise AuditError(
            f"{layout.jwks}: lacks the key(s) {sorted(unknown)} that signed this log; "
            "restore the key set before appending"
        )
    if last is not None:
        key = keys.get(last.kid)
        if key is None:
            raise _corrupt(last.entry.seq, f"signed by {last.kid}, not in the log's key set")
        try:
            last.verify(key)
        except VerificationError as e:
            raise _corrupt(last.entry.seq, f"signature does not verify: {e}") from e
    return scan


def check_stored_checkpoint(
    layout: LogLayout, keys: dict[str, VerifyingKey], origin: str, tree: merkle.MerkleTree
) -> SignedCheckpoint | None:
    """The stored checkpoint must verify and the log must still hold its tree (else the log
    was truncated or rewritten: refuse to append to it, and never sign a checkpoint that
    contradicts it)."""
    try:
        text = layout.checkpoint.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise AuditError(f"{layout.checkpoint}: unreadable: {e}") from e
    try:
        checkpoint = parse_and_verify_checkpoint(text, list(keys.values()), origin)
    except VerificationError as e:
        raise AuditError(f"{layout.checkpoint}: {e}") from e
    if checkpoint.size > tree.size:
        raise AuditError(
            f"entry {tree.size}: missing; the checkpoint covers {checkpoint.size} entries "
            f"but the log holds {tree.size} (truncated)"
        )
    if tree.root(checkpoint.size) != checkpoint.root:
        raise AuditError(f"the log's first {checkpoint.size} entries do not match its checkpoint")
    return SignedCheckpoint(checkpoint, text)


def pending_truncations(layout: LogLayout) -> list[Truncation]:
    """A cut recorded by an earlier open that crashed before logging its recovery entry."""
    try:
        doc = json.loads(layout.recovery.read_bytes())
        return [Truncation(int(t["offset"]), int(t["length"]), str(t["sha256"])) for t in doc]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise AuditError(f"{layout.recovery}: unreadable: {e}") from e


def cut_torn_tail(
    layout: LogLayout, log_fd: int, torn: Truncation, truncations: list[Truncation], fsync: Fsync
) -> None:
    """Records the cut durably first, then truncates, so a crash between the two can never
    lose the fact that bytes were removed."""
    try:
        record = json.dumps([t.to_json() for t in truncations]).encode()
        write_atomic(layout.recovery, record, mode=0o600, fsync=fsync)
        os.ftruncate(log_fd, torn.offset)
        fsync(log_fd)
    except OSError as e:
        raise AuditError(f"{layout.log}: cannot repair the torn last line: {e}") from e


def read_entry_line(log_fd: int, offset: int, end: int, path: Path) -> SignedEntry:
    """One durable line, read back by position (os.pread: safe beside the appending writer)."""
    try:
        data = os.pread(log_fd, end - offset, offset)
    except OSError as e:
        raise AuditError(f"{path}: cannot read an entry back: {e}") from e
    if not data.endswith(b"\n"):
        raise AuditError(f"{path}: the entry at offset {offset} is no longer complete")
    try:
        return SignedEntry.parse_line(data[:-1])
    except VerificationError as e:
        raise AuditError(f"{path}: the entry at offset {offset} changed on disk: {e}") from e
