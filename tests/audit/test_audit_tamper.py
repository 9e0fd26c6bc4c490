"""Tampering with a log directory: every case is data, each is caught by verify_log and by
`broker audit verify` (exit code 1, the bad entry named)."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.audit.checkpoint import Checkpoint, sign_checkpoint
from broker.audit.entry import SignedEntry
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
