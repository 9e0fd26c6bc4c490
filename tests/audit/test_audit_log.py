"""The audit log writer: append, reopen, group commit, key changes, failures."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.audit import merkle
from broker.audit.checkpoint import parse_and_verify_checkpoint
from broker.audit.entry import GENESIS_PREV, SignedEntry
from broker.audit.log import AppendedEntry, AuditLog, LogPosition
from broker.audit.verify import verify_log
from broker.errors import AuditError
from broker.keys import SigningKey, parse_jwks
from broker.receipts import verify_receipt
from tests.audit.audit_helpers import ORIGIN, decision_body, fill_log, open_log


def _entries(directory: Path) -> list[SignedEntry]:
    lines = (directory / "log.jsonl").read_bytes().splitlines()
    return [SignedEntry.parse_line(line) for line in lines]


class CountingFsync:
    """The injectable fsync: counts calls, records (inode, size) of what it made durable, can
    fail on demand, and can slow fsync down to widen the group-commit window (never asserted
    on: only counts and sizes are)."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.calls = 0
        self.synced: list[tuple[int, int]] = []
        self.fail_with: OSError | None = None
        self.fail_unless_inode: int | None = None
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        info = os.fstat(fd)
        with self.lock:
            self.calls += 1
        if self.fail_with is not None and info.st_ino != self.fail_unless_inode:
            raise self.fail_with
        if self.delay:
            time.sleep(self.delay)
        os.fsync(fd)
        with self.lock:
            self.synced.append((info.st_ino, info.st_size))

    def durable_size(self, inode: int) -> int:
        with self.lock:
            return max((size for ino, size in self.synced if ino == inode), default=0)


def test_first_open_records_the_key_then_entries_chain(tmp_path: Path, key: SigningKey) -> None:
    with open_log(tmp_path, key) as log:
        assert log.size == 1  # the key entry
        appended = log.append("decision", decision_body(key))
        assert appended.seq == 1
        outcome = log.append("outcome", lambda p: {"decision_seq": 1, "released": []})
        assert log.size == 3
        assert log.head == outcome.entry_hash
    entries = _entries(tmp_path)
    assert [e.entry.kind for e in entries] == ["key", "decision", "outcome"]
    assert entries[0].entry.prev == GENESIS_PREV
    assert entries[0].entry.body == {"kid": key.kid, "jwk": key.public_jwk(), "origin": ORIGIN}
    assert entries[1].entry.prev == entries[0].entry.hash().hex()
    assert entries[2].entry.prev == appended.entry_hash == entries[1].entry.hash().hex()
    assert all(e.kid == key.kid for e in entries)
    assert list(parse_jwks(json.loads((tmp_path / "keys.jwks.json").read_text()))) == [key.kid]


def test_make_body_sees_the_entry_position(tmp_path: Path, key: SigningKey) -> None:
    seen: list[LogPosition] = []

    def make(position: LogPosition) -> dict[str, Any]:
        seen.append(position)
        return decision_body(key)(position)

    with open_log(tmp_path, key) as log:
        head_before = log.head
        appended = log.append("decision", make)
    assert seen == [LogPosition(seq=1, prev=head_before)]
    claims = verify_receipt(appended.body["receipt"], {"keys": [key.public_jwk()]})
    assert claims["log"] == {"seq": 1, "prev": head_before}


def test_reopen_continues_the_chain(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=4)
    with open_log(tmp_path, key) as log:
        assert log.size == 5  # no second key entry for the same key
        log.append("policy", lambda p: {"revision": "ab" * 32})
        root = log.root_hex
    result = verify_log(tmp_path)
    assert result.size == 6
    assert result.root_hex == root
    assert result.checkpoint_size == 6  # close wrote a checkpoint
    assert result.signers == (key.kid,)


def test_rotation_announces_the_new_key_first(
    tmp_path: Path, key: SigningKey, other_key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=2)
    with open_log(tmp_path, key) as log:
        rotated = log.rotate(other_key)
        assert rotated.seq == 3
        assert log.signing_key is other_key
        assert log.key_history == (key.kid, other_key.kid)
        log.append("decision", decision_body(other_key))
    entries = _entries(tmp_path)
    assert entries[3].entry.kind == "key"
    assert entries[3].kid == other_key.kid  # signed by the key it announces
    assert entries[3].entry.body["kid"] == other_key.kid
    assert entries[3].entry.body["endorsed_by"]["kid"] == key.kid  # and endorsed by the old
    assert entries[4].kid == other_key.kid
    jwks = json.loads((tmp_path / "keys.jwks.json").read_text())
    assert [k["kid"] for k in jwks["keys"]] == [other_key.kid, key.kid]  # newest first
    result = verify_log(tmp_path)
    assert result.size == 5
    assert result.signers == (key.kid, other_key.kid)
    assert result.active_kid == other_key.kid
    assert result.unendorsed_key_changes == ()


def test_checkpoints_follow_the_configured_cadence(tmp_path: Path, key: SigningKey) -> None:
    clock = iter(range(1000))
    log = open_log(tmp_path, key, checkpoint_every=3, monotonic=lambda: float(next(clock)))
    try:
        assert log.checkpoint() is None  # 1 entry, fewer than 3
        log.append("policy", lambda p: {"n": 1})
        log.append("policy", lambda p: {"n": 2})  # 3 durable entries
        assert verify_log(tmp_path).checkpoint_size == 3
        log.append("policy", lambda p: {"n": 3})
        assert verify_log(tmp_path).checkpoint_size == 3
    finally:
        log.close()
    assert verify_log(tmp_path).checkpoint_size == 4


def test_time_based_checkpoint(tmp_path: Path, key: SigningKey) -> None:
    now = [0.0]
    log = open_log(
        tmp_path, key, checkpoint_every=1000, checkpoint_interval=5.0, monotonic=lambda: now[0]
    )
    try:
        log.append("policy", lambda p: {"n": 1})
        assert log.checkpoint() is None
        now[0] = 6.0
        log.append("policy", lambda p: {"n": 2})
        assert verify_log(tmp_path).checkpoint_size == 3
    finally:
        log.close()


def test_concurrent_appends_share_fsyncs(tmp_path: Path, key: SigningKey) -> None:
    fsync = CountingFsync(delay=0.002)
    threads, per_thread = 8, 25
    log = open_log(tmp_path, key, fsync=fsync, checkpoint_every=10_000)
    log_inode = (tmp_path / "log.jsonl").stat().st_ino
    before = fsync.calls
    results: list[tuple[AppendedEntry, int]] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(per_thread):
                appended = log.append("decision", decision_body(key, jti=f"t{n}-{i}"))
                results.append((appended, fsync.durable_size(log_inode)))
        except BaseException as e:  # surfaced below
            errors.append(e)

    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    fsyncs = fsync.calls - before
    log.close()

    assert not errors
    total = threads * per_thread
    assert sorted(a.seq for a, _ in results) == list(range(1, total + 1))  # contiguous
    assert fsyncs < total  # group commit: fewer fsyncs than entries
    # Every append returned only after an fsync covering its own line.
    ends: list[int] = []
    offset = 0
    for line in (tmp_path / "log.jsonl").read_bytes().splitlines(keepends=True):
        offset += len(line)
        ends.append(offset)
    for appended, durable_size in results:
        assert durable_size >= ends[appended.seq]
    assert verify_log(tmp_path).size == total + 1


def test_a_failing_make_body_appends_nothing(tmp_path: Path, key: SigningKey) -> None:
    def explode(position: LogPosition) -> dict[str, Any]:
        raise RuntimeError("policy engine crashed")

    with open_log(tmp_path, key) as log:
        with pytest.raises(RuntimeError, match="crashed"):
            log.append("decision", explode)
        with pytest.raises(AuditError, match="canonical"):
            log.append("outcome", lambda p: {"score": float("nan")})
        with pytest.raises(AuditError, match="kind"):
            log.append("gossip", lambda p: {})
        with pytest.raises(AuditError, match="JSON object"):
            log.append("outcome", lambda p: ["not", "an", "object"])  # type: ignore[arg-type,return-value]
        assert log.append("outcome", lambda p: {"ok": True}).seq == 1  # still usable
    assert verify_log(tmp_path).size == 2


def test_fsync_failure_poisons_the_log(tmp_path: Path, key: SigningKey) -> None:
    fsync = CountingFsync()
    log = open_log(tmp_path, key, fsync=fsync, checkpoint_every=10_000)
    log.append("policy", lambda p: {"n": 1})
    fsync.fail_with = OSError(errno.EIO, "Input/output error")
    with pytest.raises(AuditError, match="Input/output error"):
        log.append("decision", decision_body(key))
    fsync.fail_with = None  # the disk "recovers"; the log must stay closed for business
    with pytest.raises(AuditError, match="unusable after an earlier failure"):
        log.append("policy", lambda p: {"n": 2})
    assert log.size == 2
    log.close()
    # The unacknowledged entry was cut off the file: no partial entry kept.
    assert len(_entries(tmp_path)) == 2
    with open_log(tmp_path, key) as reopened:
        assert reopened.size == 2
        reopened.append("policy", lambda p: {"n": 3})
    assert verify_log(tmp_path).size == 3


def test_checkpoint_write_failure_poisons_the_log(tmp_path: Path, key: SigningKey) -> None:
    fsync = CountingFsync()
    log = open_log(tmp_path, key, fsync=fsync, checkpoint_every=2)
    fsync.fail_unless_inode = (tmp_path / "log.jsonl").stat().st_ino
    fsync.fail_with = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(AuditError, match="checkpoint write failed"):
        log.append("policy", lambda p: {"n": 1})  # durable, but the checkpoint is not
    with pytest.raises(AuditError, match="unusable"):
        log.append("policy", lambda p: {"n": 2})
    log.close()
    assert not list(tmp_path.glob(".checkpoint.*"))  # no temporary file left behind
    assert verify_log(tmp_path).size == 2


def test_unwritable_directory_is_refused_at_open(tmp_path: Path, key: SigningKey) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the log directory should be")
    with pytest.raises(AuditError, match="not writable"):
        AuditLog.open(blocker, key, origin=ORIGIN)
    with pytest.raises(AuditError, match="not writable"):
        AuditLog.open(blocker / "sub", key, origin=ORIGIN)


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """Makes a directory unwritable even for root (which ignores mode bits): chattr +i."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(directory)], check=False).returncode:
        pytest.skip("running as root without chattr +i support: cannot make a read-only dir")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_read_only_directory_is_refused_at_open(tmp_path: Path, key: SigningKey) -> None:
    directory = tmp_path / "log"
    fill_log(directory, key, decisions=1)  # the lock and log files already exist
    with _read_only(directory), pytest.raises(AuditError, match="not writable"):
        AuditLog.open(directory, key, origin=ORIGIN)


def test_one_writer_at_a_time(tmp_path: Path, key: SigningKey) -> None:
    with open_log(tmp_path, key), pytest.raises(AuditError, match="another writer"):
        open_log(tmp_path, key)
    with open_log(tmp_path, key) as log:  # released on close
        assert log.size == 1


def test_closed_log_refuses_appends(tmp_path: Path, key: SigningKey) -> None:
    log = open_log(tmp_path, key)
    log.close()
    log.close()  # idempotent
    with pytest.raises(AuditError, match="closed"):
        log.append("policy", lambda p: {})


def test_origin_is_part_of_the_log_identity(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=1)
    with pytest.raises(AuditError, match="origin"):
        AuditLog.open(tmp_path, key, origin="another.test/log")
    with pytest.raises(AuditError, match="origin"):
        AuditLog.open(tmp_path / "new", key, origin="{not a url}")
    with pytest.raises(AuditError, match="checkpoint_every"):
        AuditLog.open(tmp_path / "new", key, origin=ORIGIN, checkpoint_every=0)


def _truncate_last_line(path: Path, keep: int) -> bytes:
    """Cuts the file inside its last line, keeping `keep` bytes of it; returns what was cut."""
    data = path.read_bytes()
    start = data.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(data[: start + keep])
    return data[start + keep :]


def test_torn_last_line_is_cut_and_recorded(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=3)
    (tmp_path / "checkpoint").unlink()  # the torn entry was never checkpointed
    _truncate_last_line(tmp_path / "log.jsonl", keep=40)
    torn = (tmp_path / "log.jsonl").read_bytes().rsplit(b"\n", 1)[1]
    with open_log(tmp_path, key) as log:
        assert log.size == 4  # 3 intact entries + the recovery entry
    entries = _entries(tmp_path)
    recovery = entries[-1]
    assert recovery.entry.kind == "recovery"
    assert recovery.entry.seq == 3
    [cut] = recovery.entry.body["truncated"]
    assert cut["length"] == len(torn) == 40
    assert cut["sha256"] == hashlib.sha256(torn).hexdigest()
    assert not (tmp_path / "recovery.pending").exists()
    assert verify_log(tmp_path).size == 4


def test_a_crash_between_cut_and_record_is_still_recorded(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=2)
    (tmp_path / "recovery.pending").write_text(
        json.dumps([{"offset": 100, "length": 7, "sha256": "ee" * 32}])
    )
    with open_log(tmp_path, key):
        pass
    recovery = _entries(tmp_path)[-1]
    assert recovery.entry.kind == "recovery"
    assert recovery.entry.body["truncated"] == [{"offset": 100, "length": 7, "sha256": "ee" * 32}]


def _rewrite(d: Path, change: Callable[[list[bytes]], list[bytes]]) -> None:
    path = d / "log.jsonl"
    path.write_bytes(b"".join(change(path.read_bytes().splitlines(keepends=True))))


def _edit_middle_line(d: Path) -> None:
    _rewrite(d, lambda lines: [line.replace(b'"released":1', b'"released":9') for line in lines])


def _garbage_middle_line(d: Path) -> None:
    _rewrite(d, lambda lines: [*lines[:2], b"garbage\n", *lines[3:]])


def _truncate_below_checkpoint(d: Path) -> None:
    _rewrite(d, lambda lines: lines[:-2])


def _forge_checkpoint(d: Path) -> None:
    path = d / "checkpoint"
    path.write_text(path.read_text().replace("\n5\n", "\n4\n"))


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "edited-middle-line": (_edit_middle_line, "entry 3: prev does not match hash of entry 2"),
    "garbage-middle-line": (_garbage_middle_line, "entry 2: unreadable line"),
    "truncated-below-checkpoint": (_truncate_below_checkpoint, "entry 3: missing.*truncated"),
    "forged-checkpoint": (_forge_checkpoint, "checkpoint: .*invalid signature"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_open_refuses_a_damaged_log(tmp_path: Path, key: SigningKey, case: str) -> None:
    fill_log(tmp_path, key, decisions=4)
    damage, needle = DAMAGE[case]
    damage(tmp_path)
    with pytest.raises(AuditError, match=needle):
        open_log(tmp_path, key)


def test_public_key_file_is_public_and_the_log_is_not(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=1)
    assert stat.S_IMODE((tmp_path / "keys.jwks.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "log.jsonl").stat().st_mode) & 0o007 == 0
    with open_log(tmp_path, key) as log:
        assert log.jwks() == json.loads((tmp_path / "keys.jwks.json").read_text())
        assert log.origin == ORIGIN
        assert log.directory == tmp_path


def test_a_lost_key_set_is_republished_for_the_active_key(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=2)
    (tmp_path / "keys.jwks.json").unlink()
    with open_log(tmp_path, key) as log:
        assert log.size == 3  # no new key entry: the key already signs here
    assert verify_log(tmp_path).size == 3


def test_a_key_set_missing_an_old_signer_is_refused(
    tmp_path: Path, key: SigningKey, other_key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=1)
    with open_log(tmp_path, key) as log:
        log.rotate(other_key)
    (tmp_path / "keys.jwks.json").write_text(json.dumps({"keys": [other_key.public_jwk()]}))
    with pytest.raises(AuditError, match=f"lacks the key.*{key.kid}"):
        open_log(tmp_path, other_key)


def test_a_leader_dying_unexpectedly_does_not_strand_the_log(
    tmp_path: Path, key: SigningKey
) -> None:
    calls = {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] > 100:
            raise RuntimeError("interrupted")
        os.fsync(fd)

    log = open_log(tmp_path, key, fsync=fsync)
    calls["n"] = 100
    with pytest.raises(RuntimeError, match="interrupted"):
        log.append("policy", lambda p: {"n": 1})
    with pytest.raises(AuditError, match="interrupted"):
        log.append("policy", lambda p: {"n": 2})
    log.close()
    assert verify_log(tmp_path).size == 1


def test_proofs_from_the_log_verify_against_its_checkpoints(
    tmp_path: Path, key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=6)
    old_checkpoint = parse_and_verify_checkpoint(
        (tmp_path / "checkpoint").read_text(), key.verifying_key, ORIGIN
    )
    with open_log(tmp_path, key) as log:
        for _ in range(5):
            log.append("policy", lambda p: {"seq": p.seq})
        entries = _entries(tmp_path)
        size = log.size
        root = bytes.fromhex(log.root_hex)
        for seq in (0, 3, size - 1):
            proof = log.inclusion_proof(seq)
            merkle.verify_inclusion(entries[seq].entry.hash(), seq, size, proof, root)
        at_old = log.inclusion_proof(2, old_checkpoint.size)
        merkle.verify_inclusion(
            entries[2].entry.hash(), 2, old_checkpoint.size, at_old, old_checkpoint.root
        )
        proof = log.consistency_proof(old_checkpoint.size)
        merkle.verify_consistency(old_checkpoint.size, size, old_checkpoint.root, root, proof)
        with pytest.raises(AuditError, match="seq"):
            log.inclusion_proof(size)
        with pytest.raises(AuditError, match="tree_size"):
            log.consistency_proof(1, size + 1)


def test_an_unreadable_log_file_is_an_audit_error(tmp_path: Path, key: SigningKey) -> None:
    fill_log(tmp_path, key, decisions=1)
    saved = (tmp_path / "log.jsonl").read_bytes()
    (tmp_path / "log.jsonl").unlink()
    (tmp_path / "log.jsonl").mkdir()  # something that cannot be opened as the log
    with pytest.raises(AuditError, match="cannot open the audit log"):
        open_log(tmp_path, key)
    (tmp_path / "log.jsonl").rmdir()
    (tmp_path / "log.jsonl").write_bytes(saved)
    with open_log(tmp_path, key) as log:  # the failed open released its lock
        assert log.size == 2


def test_a_quiet_log_is_checkpointed_by_its_own_thread(tmp_path: Path, key: SigningKey) -> None:
    now = [0.0]
    log = open_log(
        tmp_path, key, checkpoint_every=1000, checkpoint_interval=0.1, monotonic=lambda: now[0]
    )
    with log:
        log.append("policy", lambda p: {"n": 1})
        assert log.checkpoint() is None  # neither commit found a checkpoint due
        now[0] = 1.0  # the interval passes and no commit comes: only the thread can sign
        deadline = time.monotonic() + 30  # a hang guard; the thread looks every 0.05 s
        while log.checkpoint() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert verify_log(tmp_path).checkpoint_size == 2
