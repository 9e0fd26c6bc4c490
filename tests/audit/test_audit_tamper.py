"""Tampering with a log directory: every case is data, each is caught by verify_log and by
`broker audit verify` (exit code 1, the bad entry named). Covered: an edited entry, a deleted
entry, swapped entries, a truncated log, a torn last write, an entry re-signed with another
key (unknown, added to the key set, or retired), forged checkpoints, replayed or foreign
receipts, forged or stripped key-change endorsements, a retired key taking the log back, and
a fork (history rewritten and re-signed with a stolen key) against a checkpoint held from
earlier."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, sign_checkpoint
from broker.audit.entry import Entry, SignedEntry
from broker.audit.keychange import Endorsement, KeyAnnouncement, rotation_statement
from broker.audit.log import LogPosition
from broker.audit.verify import verify_log
from broker.cli import audit as audit_cli
from broker.errors import VerificationError
from broker.keys import SigningKey
from broker.receipts import issue_receipt
from tests.audit.audit_helpers import ORIGIN, claims_for, decision_body, fill_log, open_log

DECISIONS = 10  # entries 0..10: the key entry, then decision/outcome alternating


@dataclass(frozen=True)
class Keys:
    broker: SigningKey
    attacker: SigningKey


def _lines(d: Path) -> list[bytes]:
    return (d / "log.jsonl").read_bytes().splitlines(keepends=True)


def _write_lines(d: Path, lines: list[bytes]) -> None:
    (d / "log.jsonl").write_bytes(b"".join(lines))


def _edit(
    d: Path, seq: int, change: Callable[[dict[str, Any]], None], signer: SigningKey | None
) -> None:
    lines = _lines(d)
    old = SignedEntry.parse_line(lines[seq].rstrip(b"\n"))
    doc = old.entry.to_json()
    change(doc)
    entry = type(old.entry).from_json(doc)
    if signer is None:
        new = SignedEntry(entry, old.kid, old.signature)  # keep the now-stale signature
    else:
        new = SignedEntry.sign(entry, signer)
    lines[seq] = new.to_line()
    _write_lines(d, lines)


def edited_entry(d: Path, k: Keys) -> None:
    _edit(d, 6, lambda e: e["body"].update(released=99), None)


def edited_and_resigned_by_attacker(d: Path, k: Keys) -> None:
    _edit(d, 6, lambda e: e["body"].update(released=99), k.attacker)


def resigned_with_another_key(d: Path, k: Keys) -> None:
    _edit(d, 7, lambda e: None, k.attacker)


def resigned_and_attacker_key_added(d: Path, k: Keys) -> None:
    _edit(d, 7, lambda e: None, k.attacker)
    jwks = json.loads((d / "keys.jwks.json").read_text())
    jwks["keys"].append(k.attacker.public_jwk())
    (d / "keys.jwks.json").write_text(json.dumps(jwks))


def deleted_entry(d: Path, k: Keys) -> None:
    lines = _lines(d)
    del lines[4]
    _write_lines(d, lines)


def deleted_and_renumbered(d: Path, k: Keys) -> None:
    """Entry 4 removed, later seqs shifted down: the attacker cannot re-sign them."""
    deleted_entry(d, k)
    for seq in range(4, DECISIONS):
        _edit(d, seq, lambda e: e.update(seq=e["seq"] - 1), None)


def swapped_entries(d: Path, k: Keys) -> None:
    lines = _lines(d)
    lines[3], lines[4] = lines[4], lines[3]
    _write_lines(d, lines)


def truncated_with_checkpoint_kept(d: Path, k: Keys) -> None:
    _write_lines(d, _lines(d)[:8])


def torn_last_write(d: Path, k: Keys) -> None:
    with (d / "log.jsonl").open("ab") as f:
        f.write(b'{"entry":{"body":{"decision":"al')


def forged_checkpoint(d: Path, k: Keys) -> None:
    (d / "checkpoint").write_text(
        sign_checkpoint(Checkpoint(ORIGIN, DECISIONS + 1, b"\x00" * 32), k.attacker)
    )


def checkpoint_of_a_rewritten_log(d: Path, k: Keys) -> None:
    """The checkpoint is genuine, but entry 2's body differs from what it covered."""
    checkpoint = (d / "checkpoint").read_text()
    _edit(d, 2, lambda e: e["body"].update(released=42), k.broker)  # stolen key re-signs
    # Re-chain everything after it with the stolen key, so only the checkpoint can tell.
    lines = _lines(d)
    prev = SignedEntry.parse_line(lines[2].rstrip(b"\n")).entry.hash().hex()
    for seq in range(3, len(lines)):
        old = SignedEntry.parse_line(lines[seq].rstrip(b"\n"))
        doc = old.entry.to_json()
        doc["prev"] = prev
        if doc["kind"] == "decision":
            doc["body"]["receipt"] = issue_receipt(
                k.broker, claims_for(LogPosition(seq, prev), jti=f"re-{seq}")
            )
        new = SignedEntry.sign(type(old.entry).from_json(doc), k.broker)
        lines[seq] = new.to_line()
        prev = new.entry.hash().hex()
    _write_lines(d, lines)
    (d / "checkpoint").write_text(checkpoint)


def replayed_receipt(d: Path, k: Keys) -> None:
    """A legitimately signed decision entry whose receipt belongs to another entry."""
    receipt = SignedEntry.parse_line(_lines(d)[1].rstrip(b"\n")).entry.body["receipt"]
    with open_log(d, k.broker) as log:
        log.append("decision", lambda p: {"receipt": receipt, "decision": "allow"})


def receipt_signed_by_unknown_key(d: Path, k: Keys) -> None:
    with open_log(d, k.broker) as log:
        log.append("decision", decision_body(k.attacker))


TAMPER_CASES: dict[str, tuple[Callable[[Path, Keys], None], str]] = {
    "edited_entry": (edited_entry, "entry 6: signature does not verify"),
    "edited_and_resigned_by_attacker": (
        edited_and_resigned_by_attacker,
        "entry 6: signed by unknown key",
    ),
    "resigned_with_another_key": (resigned_with_another_key, "entry 7: signed by unknown key"),
    "resigned_and_attacker_key_added": (
        resigned_and_attacker_key_added,
        "entry 7: signed by .*active key",
    ),
    "deleted_entry": (deleted_entry, "entry 4: has seq 5"),
    "deleted_and_renumbered": (deleted_and_renumbered, "entry 4: signature does not verify"),
    "swapped_entries": (swapped_entries, "entry 3: has seq 4"),
    "truncated_with_checkpoint_kept": (
        truncated_with_checkpoint_kept,
        "entry 8: missing.*truncated",
    ),
    "torn_last_write": (torn_last_write, "entry 11: incomplete last line"),
    "forged_checkpoint": (forged_checkpoint, "checkpoint: .*no signature from a trusted key"),
    "checkpoint_of_a_rewritten_log": (checkpoint_of_a_rewritten_log, "checkpoint: .*rewritten"),
    "replayed_receipt": (replayed_receipt, r"entry 11: receipt log claim"),
    "receipt_signed_by_unknown_key": (
        receipt_signed_by_unknown_key,
        "entry 11: receipt header.kid: unknown key",
    ),
}


@pytest.fixture
def keys(key: SigningKey, other_key: SigningKey) -> Keys:
    return Keys(broker=key, attacker=other_key)


@pytest.fixture
def log_dir(tmp_path: Path, keys: Keys) -> Path:
    directory = tmp_path / "log"
    fill_log(directory, keys.broker, decisions=DECISIONS)
    assert verify_log(directory).size == DECISIONS + 1  # intact before tampering
    return directory


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    audit_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["audit", "verify", *argv])
    code: int = args.func(args)
    return code


@pytest.mark.parametrize("case", sorted(TAMPER_CASES))
def test_verify_log_names_the_first_bad_entry(log_dir: Path, keys: Keys, case: str) -> None:
    tamper, expected = TAMPER_CASES[case]
    tamper(log_dir, keys)
    with pytest.raises(VerificationError, match=expected):
        verify_log(log_dir)


@pytest.mark.parametrize("case", sorted(TAMPER_CASES))
def test_cli_fails_and_names_the_entry(
    log_dir: Path, keys: Keys, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tamper, expected = TAMPER_CASES[case]
    tamper(log_dir, keys)
    assert _cli(str(log_dir)) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: ")
    assert len(out.splitlines()) == 1
    assert re.search(expected, out), out


def test_torn_write_is_repaired_on_open_with_a_recovery_entry(log_dir: Path, keys: Keys) -> None:
    torn_last_write(log_dir, keys)
    with open_log(log_dir, keys.broker) as log:
        assert log.size == DECISIONS + 2
    result = verify_log(log_dir)
    assert result.size == DECISIONS + 2
    last = SignedEntry.parse_line(_lines(log_dir)[-1].rstrip(b"\n"))
    assert last.entry.kind == "recovery"
    assert last.entry.body["truncated"][0]["length"] == len(b'{"entry":{"body":{"decision":"al')


def test_a_rewritten_log_fails_against_an_independent_key_set(
    tmp_path: Path, log_dir: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    """An attacker without the broker key rebuilds the whole log, JWKS included; only a
    key set obtained elsewhere exposes it."""
    trusted = tmp_path / "trusted.jwks.json"
    trusted.write_text((log_dir / "keys.jwks.json").read_text())
    for name in ("log.jsonl", "keys.jwks.json", "checkpoint"):
        (log_dir / name).unlink()
    fill_log(log_dir, keys.attacker, decisions=DECISIONS)
    assert verify_log(log_dir).size == DECISIONS + 1  # self-consistent...
    with pytest.raises(VerificationError, match="entry 0: signed by unknown key"):
        verify_log(log_dir, jwks=json.loads(trusted.read_text()))
    assert _cli(str(log_dir), "--jwks", str(trusted)) == 1
    assert capsys.readouterr().out.startswith("FAIL: entry 0: signed by unknown key")


def test_an_old_checkpoint_held_by_an_auditor_catches_truncation(
    tmp_path: Path, log_dir: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    held = tmp_path / "held-checkpoint"
    held.write_text((log_dir / "checkpoint").read_text())
    _write_lines(log_dir, _lines(log_dir)[:6])
    (log_dir / "checkpoint").unlink()  # the attacker removes the directory's copy too
    assert verify_log(log_dir).size == 6
    assert _cli(str(log_dir), "--checkpoint", str(held)) == 1
    assert "entry 6: missing" in capsys.readouterr().out


# ---------------------------------------------------------------------- forks


def _fork_from(d: Path, k: Keys, seq: int) -> None:
    """A thief of the broker key rewrites history from entry `seq` on, re-chains and re-signs
    every later entry and receipt, and signs a fresh checkpoint: the log is self-consistent."""
    lines = _lines(d)
    prev = SignedEntry.parse_line(lines[seq - 1].rstrip(b"\n")).entry.hash().hex()
    for index in range(seq, len(lines)):
        doc = SignedEntry.parse_line(lines[index].rstrip(b"\n")).entry.to_json()
        doc["prev"] = prev
        if index == seq:
            doc["body"]["released"] = 0  # the change the fork exists for
        if doc["kind"] == "decision":
            doc["body"]["receipt"] = issue_receipt(
                k.broker, claims_for(LogPosition(index, prev), jti=f"fork-{index}")
            )
        new = SignedEntry.sign(Entry.from_json(doc), k.broker)
        lines[index] = new.to_line()
        prev = new.entry.hash().hex()
    _write_lines(d, lines)
    tree = merkle.MerkleAccumulator()
    for line in lines:
        tree.append(SignedEntry.parse_line(line.rstrip(b"\n")).entry.hash())
    (d / "checkpoint").write_text(
        sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), k.broker)
    )


def test_a_fork_is_caught_by_a_checkpoint_held_from_earlier(
    tmp_path: Path, log_dir: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    held = tmp_path / "held-checkpoint"
    held.write_text((log_dir / "checkpoint").read_text())  # an auditor kept it (size 11)
    with open_log(log_dir, keys.broker) as log:  # the log grows after the auditor's visit
        log.append("policy", lambda p: {"n": 1})
    _fork_from(log_dir, keys, 5)
    assert verify_log(log_dir).size == DECISIONS + 2  # self-consistent: the fork is invisible
    with pytest.raises(VerificationError, match=r"held checkpoint: .* \(a fork: "):
        verify_log(log_dir, checkpoints=[held.read_text()])
    assert _cli(str(log_dir), "--checkpoint", str(held)) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL: held checkpoint: the log's first 11 entries do not hash")
    assert "fork" in out


def test_a_log_extending_the_held_checkpoint_passes(
    tmp_path: Path, log_dir: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    held = [tmp_path / "a", tmp_path / "b"]
    held[0].write_text((log_dir / "checkpoint").read_text())
    with open_log(log_dir, keys.broker) as log:
        log.append("policy", lambda p: {"n": 1})
    held[1].write_text((log_dir / "checkpoint").read_text())
    with open_log(log_dir, keys.broker) as log:
        log.append("policy", lambda p: {"n": 2})
    result = verify_log(log_dir, checkpoints=[h.read_text() for h in held])
    assert result.held_checkpoints == (11, 12)
    assert _cli(str(log_dir), "--checkpoint", str(held[0]), "--checkpoint", str(held[1])) == 0
    out = capsys.readouterr().out
    assert "held checkpoint: 11 entries, the log extends it (consistent)" in out
    assert "held checkpoint: 12 entries, the log extends it (consistent)" in out


# ---------------------------------------------------------------------- rotated logs


@pytest.fixture
def rotated_dir(tmp_path: Path, keys: Keys) -> tuple[Path, SigningKey]:
    """Entries 0..4 by the broker key, entry 5 rotates to a new key, entries 6..7 by it."""
    directory = tmp_path / "rotated"
    fill_log(directory, keys.broker, decisions=4)
    new = SigningKey.from_seed(bytes(range(32)))
    with open_log(directory, keys.broker) as log:
        log.rotate(new)
        log.append("decision", decision_body(new, jti="after"))
        log.append("outcome", lambda p: {"decision_seq": 6, "released": 1})
    assert verify_log(directory).size == 8
    return directory, new


def _append_raw(d: Path, kind: str, body: dict[str, Any], signer: SigningKey) -> None:
    lines = _lines(d)
    last = SignedEntry.parse_line(lines[-1].rstrip(b"\n")).entry
    entry = Entry(last.seq + 1, last.hash().hex(), last.time, kind, body)
    _write_lines(d, [*lines, SignedEntry.sign(entry, signer).to_line()])


def retired_key_signs_an_entry(d: Path, k: Keys, new: SigningKey) -> None:
    _edit(d, 7, lambda e: None, k.broker)


def forged_endorsement(d: Path, k: Keys, new: SigningKey) -> None:
    """The attacker announces its own key, claiming the old key endorsed it."""
    entry = SignedEntry.parse_line(_lines(d)[5].rstrip(b"\n")).entry
    statement = rotation_statement(ORIGIN, 5, entry.prev, k.broker.kid, k.attacker.kid)
    forged = Endorsement(k.broker.kid, k.attacker.sign(statement))
    body = KeyAnnouncement(k.attacker.verifying_key, ORIGIN, forged).to_json()
    _edit(d, 5, lambda e: e.update(body=body), k.attacker)
    jwks = json.loads((d / "keys.jwks.json").read_text())
    jwks["keys"].append(k.attacker.public_jwk())
    (d / "keys.jwks.json").write_text(json.dumps(jwks))


def endorsement_stripped(d: Path, k: Keys, new: SigningKey) -> None:
    _edit(d, 5, lambda e: e["body"].pop("endorsed_by"), new)


def retired_key_announced_again(d: Path, k: Keys, new: SigningKey) -> None:
    """A leaked retired key tries to take the log back."""
    _append_raw(d, "key", KeyAnnouncement(k.broker.verifying_key, ORIGIN).to_json(), k.broker)


def receipt_signed_by_the_retired_key(d: Path, k: Keys, new: SigningKey) -> None:
    def resign(e: dict[str, Any]) -> None:
        position = LogPosition(e["seq"], e["prev"])
        e["body"]["receipt"] = issue_receipt(k.broker, claims_for(position, jti="after"))

    _edit(d, 6, resign, new)


def checkpoint_signed_by_the_retired_key(d: Path, k: Keys, new: SigningKey) -> None:
    result = verify_log(d)
    checkpoint = Checkpoint(ORIGIN, result.size, bytes.fromhex(result.root_hex))
    (d / "checkpoint").write_text(sign_checkpoint(checkpoint, k.broker))


ROTATED_TAMPER_CASES: dict[str, tuple[Callable[[Path, Keys, SigningKey], None], str]] = {
    "retired_key_signs_an_entry": (retired_key_signs_an_entry, "entry 7: signed by .*active key"),
    "forged_endorsement": (forged_endorsement, "entry 5: key change endorsement does not verify"),
    "endorsement_stripped": (endorsement_stripped, "entry 5: key change to .* is not endorsed"),
    "retired_key_announced_again": (
        retired_key_announced_again,
        "entry 8: key .* was announced at entry 0 already",
    ),
    "receipt_signed_by_the_retired_key": (
        receipt_signed_by_the_retired_key,
        "entry 6: receipt signed by .*, not by the entry's signer",
    ),
    "checkpoint_signed_by_the_retired_key": (
        checkpoint_signed_by_the_retired_key,
        "checkpoint: .*no signature from a trusted key",
    ),
}


@pytest.mark.parametrize("case", sorted(ROTATED_TAMPER_CASES))
def test_rotated_log_tampering_is_caught(
    rotated_dir: tuple[Path, SigningKey],
    keys: Keys,
    case: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory, new = rotated_dir
    tamper, expected = ROTATED_TAMPER_CASES[case]
    tamper(directory, keys, new)
    with pytest.raises(VerificationError, match=expected):
        verify_log(directory)
    assert _cli(str(directory)) == 1
    assert re.search(expected, capsys.readouterr().out)
