"""The append-only, hash-chained, signed audit log in one directory.

Every entry names the hash of the one before it, is signed, and is durable (fsync) before
`append` returns; nothing may be forwarded before that. Concurrent appends share one fsync
(group commit): whoever finds no flush in progress becomes the leader and writes and fsyncs
everything queued so far, the others wait for it. Any write or fsync failure poisons the log:
the failed batch is cut off the file and every later append is refused (fail closed).

A signed C2SP checkpoint over the Merkle tree of entry hashes is replaced atomically every
`checkpoint_every` entries, once `checkpoint_interval` seconds passed (at the next commit, or
by a background thread within 1.5 intervals of the last entry when none comes), at close, and
on demand when a proof needs a newer tree head. Before signing one, the writer proves the
new tree consistent with the last checkpoint it signed (or found on open): it never signs two
checkpoints that contradict each other. Measured here (ext4, 2 cores): an append's
write+fsync costs ~170 us, an atomic checkpoint replacement ~560 us (two fsyncs and a rename),
so a checkpoint at every group commit would roughly quadruple commit latency; hence batching.

Keys: the log has one active key. `rotate` hands over to a new key with a key entry the old
key endorses; a key that was retired never signs again, and a key new to the log is refused
unless it comes through `rotate` (or, when the old key is lost, the loudly named
`unsafe_unendorsed_key_change`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint, valid_origin
from broker.audit.durable import Fsync, fsync_directory, write_atomic
from broker.audit.entry import GENESIS_PREV, KINDS, MAX_LINE_BYTES, Entry, SignedEntry
from broker.audit.keychange import Endorsement, KeyAnnouncement
from broker.audit.layout import LogLayout
from broker.audit.reopen import (
    LogScan,
    Truncation,
    check_stored_checkpoint,
    cut_torn_tail,
    pending_truncations,
    read_entry_line,
    scan_log,
)
from broker.errors import AuditError, SigningError, VerificationError
from broker.keys import KeyRing, SigningKey, load_jwks, parse_jwks
from broker.rfc3339 import format_utc

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "AppendedEntry",
    "AuditLog",
    "LogPosition",
    "origin_for",
]

_logger = logging.getLogger(__name__)

DEFAULT_CHECKPOINT_EVERY = 256
DEFAULT_CHECKPOINT_INTERVAL = 10.0  # seconds


def origin_for(broker_id: str) -> str:
    """The log name (checkpoint origin) of a broker's audit log."""
    return f"{broker_id}/audit"


@dataclass(frozen=True)
class LogPosition:
    """Where the next entry will sit: its seq and the hash (hex) of the entry before it."""

    seq: int
    prev: str


@dataclass(frozen=True)
class AppendedEntry:
    """A durable entry: its seq, its hash (hex) and the body that was logged."""

    seq: int
    entry_hash: str
    body: dict[str, Any]


@dataclass(frozen=True)
class _Queued:
    seq: int
    line: bytes
    leaf: bytes


class AuditLog:
    """The writer of one log directory; one process at a time (an flock guards it)."""

    def __init__(
        self,
        layout: LogLayout,
        key: SigningKey,
        origin: str,
        *,
        log_fd: int,
        lock_fd: int,
        scan: LogScan,
        latest: SignedCheckpoint | None,
        checkpoint_every: int,
        checkpoint_interval: float,
        fsync: Fsync,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        """Use AuditLog.open."""
        self._layout = layout
        self._origin = origin
        self._log_fd = log_fd
        self._lock_fd = lock_fd
        self._fsync = fsync
        self._clock = clock
        self._monotonic = monotonic
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval

        self._lock = threading.Lock()
        self._flushed = threading.Condition(self._lock)
        self._checkpoint_lock = threading.Lock()
        self._tree_lock = threading.Lock()
        # Guarded by self._lock.
        self._key = key
        self._key_since = scan.active_since  # seq of the active key's key entry
        self._announced = list(scan.announced)
        self._next_seq = scan.tree.size
        self._head = scan.head
        self._queue: list[_Queued] = []
        self._flushing = False
        self._durable_seq = self._next_seq - 1
        self._durable_head = scan.head
        self._durable_offset = scan.end_offset
        self._failure: AuditError | None = None
        self._closed = False
        self._latest = latest
        self._checkpoint_time = monotonic()
        # A quiet log is checkpointed too: a thread looks every half interval.
        self._stopping = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="audit-checkpoint", daemon=True)
        # Guarded by self._tree_lock: the durable entries' tree and where their lines start.
        self._tree = scan.tree
        self._offsets = scan.offsets
        self._tree_end = scan.end_offset

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        directory: Path,
        key: SigningKey,
        *,
        origin: str,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL,
        fsync: Fsync = os.fsync,
        clock: Callable[[], datetime] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        unsafe_unendorsed_key_change: bool = False,
    ) -> AuditLog:
        """Opens (or creates) the log in `directory`, checks its tail and its checkpoint,
        repairs a torn last line with a recorded "recovery" entry, and records a "key" entry
        first when `key` starts a new log. `key` must be the log's active key; a new key
        comes in through `rotate`, or, if the active key is lost, with
        `unsafe_unendorsed_key_change` (verifiers then trust it only through a key set they
        hold). `fsync` and the clocks are injectable so tests can count fsyncs and simulate
        failures."""
        if not valid_origin(origin):
            raise AuditError(f"origin: {origin!r} is not a log name (a schema-less URL)")
        if checkpoint_every < 1 or checkpoint_interval <= 0:
            raise AuditError("checkpoint_every must be >= 1 and checkpoint_interval > 0")
        layout = LogLayout(Path(directory))
        _prepare_directory(layout.directory)
        lock_fd = _lock(layout)
        log_fd = -1
        try:
            ring = _load_ring(layout, key)
            keys = ring.verifying_keys()
            log_fd = os.open(layout.log, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
            fsync_directory(layout.directory, fsync=fsync)
            scan = scan_log(layout, keys)
            if scan.origin is not None and scan.origin != origin:
                raise AuditError(f"origin: this log is {scan.origin!r}, not {origin!r}")
            _check_signer(scan, key, allow_unendorsed=unsafe_unendorsed_key_change)
            latest = check_stored_checkpoint(layout, keys, origin, scan.tree)
            truncations = pending_truncations(layout)
            if scan.torn is not None:
                truncations.append(scan.torn)
                cut_torn_tail(layout, log_fd, scan.torn, truncations, fsync)
            log = cls(
                layout,
                key,
                origin,
                log_fd=log_fd,
                lock_fd=lock_fd,
                scan=scan,
                latest=latest,
                checkpoint_every=checkpoint_every,
                checkpoint_interval=checkpoint_interval,
                fsync=fsync,
                clock=clock or (lambda: datetime.now(UTC)),
                monotonic=monotonic,
            )
        except BaseException as e:
            if log_fd >= 0:
                os.close(log_fd)
            os.close(lock_fd)
            if isinstance(e, OSError):
                raise AuditError(f"{layout.directory}: cannot open the audit log: {e}") from e
            raise
        try:
            log._start(ring, truncations, active=scan.active_kid)
        except BaseException as e:
            log._release()
            if isinstance(e, OSError):
                raise AuditError(f"{layout.directory}: cannot start the audit log: {e}") from e
            raise
        log._ticker.start()
        return log

    def _start(self, ring: KeyRing, truncations: list[Truncation], active: str | None) -> None:
        if active != self._key.kid or not _publishes(self._layout, self._key):
            _save_ring(ring, self._layout)  # the key is published before it signs anything
        if active != self._key.kid:
            announcement = KeyAnnouncement(self._key.verifying_key, self._origin)
            self._append_key_entry(self._key, lambda _: announcement.to_json())
        if truncations:
            cut = [t.to_json() for t in truncations]
            self.append("recovery", lambda _: {"reason": "torn-write", "truncated": cut})
            with contextlib.suppress(FileNotFoundError):
                self._layout.recovery.unlink()
            fsync_directory(self._layout.directory, fsync=self._fsync)

    # ------------------------------------------------------------------ appending

    def append(
        self, kind: str, make_body: Callable[[LogPosition], dict[str, Any]]
    ) -> AppendedEntry:
        """Appends one entry and returns once it is durable.

        `make_body(position)` runs under the log lock with the entry's seq and prev (the
        pipeline signs the receipt there); if it raises, nothing is appended."""
        if kind not in KINDS:
            raise AuditError(f"kind: {kind!r} is not one of {sorted(KINDS)}")
        if kind == "key":
            raise AuditError("kind: key entries are written only by open and rotate")
        with self._lock:
            self._check_usable()
            seq, leaf, body = self._enqueue(kind, make_body, self._key)
        self._wait_durable(seq)
        return AppendedEntry(seq, leaf.hex(), body)

    def rotate(self, new_key: SigningKey) -> AppendedEntry:
        """Hands signing over to `new_key`: publishes it, appends its key entry (signed by it,
        endorsed by the current key over the entry's exact position), and signs a checkpoint
        with it. The old public key stays in the key set; the old key never signs again."""
        with self._lock:
            self._check_usable()
            old = self._key
            if new_key.kid in self._announced or new_key.kid == old.kid:
                raise AuditError(f"key {new_key.kid} has signed in this log already")
        _save_ring(_load_ring(self._layout, old).rotate(new_key), self._layout)

        def announce(position: LogPosition) -> dict[str, Any]:
            endorsement = Endorsement.sign(
                old, origin=self._origin, seq=position.seq, prev=position.prev, new_kid=new_key.kid
            )
            return KeyAnnouncement(new_key.verifying_key, self._origin, endorsement).to_json()

        appended = self._append_key_entry(new_key, announce, replacing=old)
        self._write_checkpoint(appended.seq + 1)
        return appended

    def _append_key_entry(
        self,
        key: SigningKey,
        make_body: Callable[[LogPosition], dict[str, Any]],
        *,
        replacing: SigningKey | None = None,
    ) -> AppendedEntry:
        with self._lock:
            self._check_usable()
            if replacing is not None and self._key is not replacing:
                raise AuditError("another rotation happened meanwhile")
            seq, leaf, body = self._enqueue("key", make_body, key)
            self._key = key
            self._key_since = seq
            self._announced.append(key.kid)
        self._wait_durable(seq)
        return AppendedEntry(seq, leaf.hex(), body)

    def _enqueue(
        self, kind: str, make_body: Callable[[LogPosition], dict[str, Any]], key: SigningKey
    ) -> tuple[int, bytes, dict[str, Any]]:
        """Builds, signs and queues the next entry (the caller holds self._lock)."""
        position = LogPosition(self._next_seq, self._head_hex())
        body = make_body(position)
        if not isinstance(body, dict):
            raise AuditError("body: make_body must return a JSON object")
        try:
            entry = Entry(position.seq, position.prev, format_utc(self._clock()), kind, body)
            entry_bytes = entry.canonical_bytes()
            line = SignedEntry(entry, key.kid, key.sign(entry_bytes)).to_line(entry_bytes)
        except VerificationError as e:
            raise AuditError(f"entry {position.seq}: {e}") from e
        if len(line) > MAX_LINE_BYTES:
            raise AuditError(f"entry {position.seq}: longer than {MAX_LINE_BYTES} bytes")
        leaf = merkle.leaf_hash(entry_bytes)
        self._queue.append(_Queued(position.seq, line, leaf))
        self._next_seq += 1
        self._head = leaf
        return position.seq, leaf, body

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise AuditError(
                f"audit log is unusable after an earlier failure: {self._failure}"
            ) from self._failure
        if self._closed:
            raise AuditError("audit log is closed")

    def _head_hex(self) -> str:
        return GENESIS_PREV if self._head is None else self._head.hex()

    def _wait_durable(self, seq: int) -> None:
        """Group commit: returns when entry `seq` is on disk, flushing as leader if needed."""
        while True:
            with self._lock:
                while True:
                    if self._durable_seq >= seq:
                        return
                    if self._failure is not None:
                        raise AuditError(
                            f"entry {seq} was not recorded: {self._failure}"
                        ) from self._failure
                    if not self._flushing:
                        break
                    self._flushed.wait()
                self._flushing = True
                batch, self._queue = self._queue, []
                start = self._durable_offset
            self._flush(batch, start)

    def _flush(self, batch: list[_Queued], start: int) -> None:
        """Writes and fsyncs one batch (the leader, outside the lock)."""
        data = b"".join(item.line for item in batch)
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._log_fd, view)
                view = view[written:]
            self._fsync(self._log_fd)
        except OSError as e:
            self._poison(f"write or fsync of entries {batch[0].seq}..{batch[-1].seq} failed", e)
            raise AuditError(f"audit log write failed: {e.strerror or e}") from e
        except BaseException as e:  # never leave followers waiting on a leader that died
            self._poison(f"writing entries {batch[0].seq}..{batch[-1].seq} was interrupted", e)
            raise
        with self._tree_lock:  # durable now: provable
            offset = start
            for item in batch:
                self._tree.append(item.leaf)
                self._offsets.append(offset)
                offset += len(item.line)
            self._tree_end = offset
        with self._lock:
            self._durable_seq = batch[-1].seq
            self._durable_head = batch[-1].leaf
            self._durable_offset = start + len(data)
            self._flushing = False
            self._flushed.notify_all()
            due = self._checkpoint_due()
            size = self._durable_seq + 1
        if due:
            self._write_checkpoint(size)

    def _poison(self, what: str, cause: BaseException) -> None:
        """Fail closed: cut the unacknowledged batch off the file and refuse all appends."""
        with self._lock:
            try:
                os.ftruncate(self._log_fd, self._durable_offset)
            except OSError:
                what += "; cutting it off the file failed too (it is repaired on next open)"
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
            self._failure = AuditError(f"{what}: {reason!s}")
            self._failure.__cause__ = cause
            self._flushing = False
            self._flushed.notify_all()

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_due(self) -> bool:
        pending = self._durable_seq + 1 - (0 if self._latest is None else self._latest.size)
        if pending <= 0:
            return False
        elapsed = self._monotonic() - self._checkpoint_time
        return pending >= self._checkpoint_every or elapsed >= self._checkpoint_interval

    def _write_checkpoint(self, size: int) -> SignedCheckpoint | None:
        """Signs and stores the checkpoint of the first `size` durable entries, after proving
        it consistent with the last one; returns the latest checkpoint."""
        with self._checkpoint_lock:
            with self._lock:
                latest, key = self._latest, self._key
                if latest is not None and size <= latest.size:
                    return latest  # a later checkpoint is already out
                if size <= self._key_since:
                    return latest  # the active key's own entry is not in that tree
            with self._tree_lock:
                root = self._tree.root(size)
                proof = [] if latest is None else self._tree.consistency_proof(latest.size, size)
            if latest is not None:
                try:
                    merkle.verify_consistency(latest.size, size, latest.root, root, proof)
                except VerificationError as e:
                    self._poison(f"refusing to sign tree size {size}", e)
                    raise AuditError(
                        f"tree size {size} is not consistent with checkpoint {latest.size}"
                    ) from e
            checkpoint = Checkpoint(self._origin, size, root)
            text = sign_checkpoint(checkpoint, key)
            try:
                write_atomic(self._layout.checkpoint, text.encode("utf-8"), fsync=self._fsync)
            except OSError as e:
                self._poison("writing the checkpoint failed", e)
                raise AuditError(f"audit checkpoint write failed: {e.strerror or e}") from e
            signed = SignedCheckpoint(checkpoint, text)
            with self._lock:
                self._latest = signed
                self._checkpoint_time = self._monotonic()
            return signed

    def _tick(self) -> None:
        """Signs a checkpoint when `checkpoint_interval` passed with entries pending and no
        commit came to do it; so a checkpoint follows the last entry within 1.5 intervals."""
        while not self._stopping.wait(self._checkpoint_interval / 2):
            with self._lock:
                if self._failure is not None or self._closed:
                    return
                due, size = self._checkpoint_due(), self._durable_seq + 1
            if due:
                try:
                    self._write_checkpoint(size)
                except AuditError:
                    _logger.exception("the periodic checkpoint failed; the audit log is closed")
                    return

    def checkpoint(self) -> str | None:
        """The latest signed checkpoint, as written to the directory."""
        try:
            return self._layout.checkpoint.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def latest_checkpoint(self, *, covering: int = 0) -> SignedCheckpoint | None:
        """The latest checkpoint; when it holds fewer than `covering` entries, a new one is
        signed now over every durable entry (a proof for a fresh receipt needs one)."""
        with self._lock:
            latest, durable = self._latest, self._durable_seq + 1
        if covering <= (0 if latest is None else latest.size):
            return latest
        if covering > durable:
            raise AuditError(f"tree_size: {covering} exceeds the {durable} durable entries")
        with self._lock:
            self._check_usable()
        signed = self._write_checkpoint(durable)
        if signed is None or signed.size < covering:
            raise AuditError(f"no checkpoint covers {covering} entries yet")
        return signed

    # ------------------------------------------------------------------ state and proofs

    @property
    def size(self) -> int:
        """Number of durable entries."""
        with self._lock:
            return self._durable_seq + 1

    @property
    def head(self) -> str:
        """Hash (hex) of the last durable entry; 64 zeros for an empty log."""
        with self._lock:
            return GENESIS_PREV if self._durable_head is None else self._durable_head.hex()

    @property
    def root_hex(self) -> str:
        """Merkle root (hex) over the durable entries."""
        with self._tree_lock:
            return self._tree.root().hex()

    @property
    def signing_key(self) -> SigningKey:
        """The active key: it signs new entries and checkpoints."""
        with self._lock:
            return self._key

    @property
    def key_history(self) -> tuple[str, ...]:
        """The kids that announced themselves in this log, oldest first; the last is active."""
        with self._lock:
            return tuple(self._announced)

    @property
    def active_since(self) -> int:
        """The seq of the active key's own key entry."""
        with self._lock:
            return self._key_since

    def leaf_hash(self, seq: int) -> bytes:
        """The RFC 6962 leaf hash of durable entry `seq`."""
        with self._tree_lock:
            self._check_seq(seq, self._tree.size)
            return self._tree.leaf(seq)

    def tree_root(self, size: int) -> bytes:
        """The Merkle root of the first `size` durable entries."""
        with self._tree_lock:
            return self._tree.root(self._tree_size(size))

    def entry(self, seq: int) -> SignedEntry:
        """Durable entry `seq`, read back from the file and checked against its leaf hash."""
        with self._tree_lock:
            self._check_seq(seq, self._tree.size)
            start = self._offsets[seq]
            end = self._offsets[seq + 1] if seq + 1 < len(self._offsets) else self._tree_end
            leaf = self._tree.leaf(seq)
        signed = read_entry_line(self._log_fd, start, end, self._layout.log)
        if signed.entry.hash() != leaf:
            raise AuditError(f"entry {seq}: changed on disk since it was written")
        return signed

    def inclusion_proof(self, seq: int, tree_size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path of entry `seq` in the tree of the first `tree_size` durable
        entries (default: all). O(log² n) hashes from the stored tree."""
        with self._tree_lock:
            size = self._tree_size(tree_size)
            self._check_seq(seq, size)
            return self._tree.inclusion_proof(seq, size)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 proof that the tree of `old_size` entries is a prefix of `new_size`'s."""
        with self._tree_lock:
            size = self._tree_size(new_size)
            if not 0 <= old_size <= size:
                raise AuditError(f"old_size: {old_size} exceeds the tree of {size} entries")
            return self._tree.consistency_proof(old_size, size)

    def _tree_size(self, tree_size: int | None) -> int:
        if tree_size is None:
            return self._tree.size
        if not 0 <= tree_size <= self._tree.size:
            size = self._tree.size
            raise AuditError(f"tree_size: {tree_size} exceeds the {size} durable entries")
        return tree_size

    @staticmethod
    def _check_seq(seq: int, size: int) -> None:
        if not 0 <= seq < size:
            raise AuditError(f"seq: {seq} is not in a tree of {size} entries")

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def directory(self) -> Path:
        return self._layout.directory

    def jwks(self) -> dict[str, Any]:
        """The public keys of this log (the directory's keys.jwks.json), newest first."""
        try:
            return load_jwks(self._layout.jwks)
        except VerificationError as e:
            raise AuditError(f"cannot read the log's key set: {e}") from e

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Flushes what is queued, writes a final checkpoint and releases the directory."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            last = self._next_seq - 1
        self._stopping.set()
        if self._ticker.is_alive():
            self._ticker.join()
        try:
            if last >= 0 and self._failure is None:
                self._wait_durable(last)
                self._write_checkpoint(last + 1)
        finally:
            self._release()

    def _release(self) -> None:
        for fd in (self._log_fd, self._lock_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- open helpers


def _prepare_directory(directory: Path) -> None:
    """Creates the directory and proves it writable (root ignores mode bits, so only a real
    write tells)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise AuditError(f"{directory}: audit log directory is not writable: {e}") from e


def _lock(layout: LogLayout) -> int:
    try:
        fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise AuditError(f"{layout.lock}: cannot create the lock file: {e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise AuditError(f"{layout.directory}: another writer holds this log") from e
        raise AuditError(f"{layout.lock}: cannot lock: {e}") from e
    return fd


def _load_ring(layout: LogLayout, key: SigningKey) -> KeyRing:
    try:
        return KeyRing.load(layout.jwks, key)
    except SigningError as e:
        raise AuditError(f"{layout.jwks}: {e}") from e


def _save_ring(ring: KeyRing, layout: LogLayout) -> None:
    try:
        ring.save(layout.jwks)
    except SigningError as e:
        raise AuditError(f"cannot publish the signing key: {e}") from e


def _check_signer(scan: LogScan, key: SigningKey, *, allow_unendorsed: bool) -> None:
    """Only the active key may sign; a new key needs the active key's endorsement."""
    active = scan.active_kid
    if active is None or active == key.kid:
        return
    if key.kid in scan.announced:
        raise AuditError(
            f"key {key.kid} was retired from this log and never signs again; "
            f"its active key is {active}"
        )
    if not allow_unendorsed:
        raise AuditError(
            f"key {key.kid} is not this log's active key {active}: a new key comes in with "
            "`broker keys rotate`, which has the active key endorse it (if the active key is "
            "lost: `broker keys rotate --unendorsed`)"
        )


def _publishes(layout: LogLayout, key: SigningKey) -> bool:
    """Whether the directory's key set already lists `key`."""
    try:
        return key.kid in parse_jwks(load_jwks(layout.jwks))
    except VerificationError:
        return False
