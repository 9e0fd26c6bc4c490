"""Key rotation: the old key endorses the new one, retired keys never sign again, every old
public key keeps verifying, and `broker keys rotate|export` drive it from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from broker.audit.checkpoint import parse_and_verify_checkpoint
from broker.audit.entry import SignedEntry
from broker.audit.keychange import Endorsement, rotation_statement
from broker.audit.log import AuditLog, origin_for
from broker.audit.rotation import staged_key_path
from broker.audit.verify import verify_log
from broker.cli import audit as audit_cli
from broker.cli import keys as keys_cli
from broker.errors import AuditError, VerificationError
from broker.keys import SigningKey, load_jwks
from broker.receipts import verify_receipt
from tests.audit.audit_helpers import ORIGIN, decision_body, fill_log, open_log


def _entries(directory: Path) -> list[SignedEntry]:
    lines = (directory / "log.jsonl").read_bytes().splitlines()
    return [SignedEntry.parse_line(line) for line in lines]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    commands = parser.add_subparsers(dest="command", required=True)
    audit_cli.register(commands)
    keys_cli.register(commands)
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


@pytest.fixture
def rotated(tmp_path: Path, key: SigningKey, other_key: SigningKey) -> Path:
    """Entries 0..4 signed by `key`, entry 5 hands over to `other_key`, 6..7 signed by it."""
    fill_log(tmp_path, key, decisions=4)
    with open_log(tmp_path, key) as log:
        assert log.rotate(other_key).seq == 5
        log.append("decision", decision_body(other_key, jti="after"))
        log.append("outcome", lambda p: {"decision_seq": 6, "released": []})
    return tmp_path


def test_the_old_key_endorses_the_new_one_at_that_exact_position(
    rotated: Path, key: SigningKey, other_key: SigningKey
) -> None:
    entry = _entries(rotated)[5]
    endorsement = Endorsement.from_json(entry.entry.body["endorsed_by"])
    assert endorsement.kid == key.kid
    at = {"origin": ORIGIN, "seq": 5, "prev": entry.entry.prev, "new_kid": other_key.kid}
    endorsement.verify(key.verifying_key, **at)
    statement = rotation_statement(ORIGIN, 5, entry.entry.prev, key.kid, other_key.kid)
    assert b'"context":"biometric-broker key rotation v1"' in statement
    # Bound to the position, the log and the new key: replayed anywhere else it fails.
    for change in ({"seq": 6}, {"prev": "00" * 32}, {"origin": "x.test/a"}, {"new_kid": key.kid}):
        with pytest.raises(VerificationError):
            endorsement.verify(key.verifying_key, **{**at, **change})
    with pytest.raises(VerificationError, match="not by the active key"):
        endorsement.verify(other_key.verifying_key, **at)


def test_a_rotated_log_verifies_and_old_receipts_still_do(
    rotated: Path, key: SigningKey, other_key: SigningKey
) -> None:
    result = verify_log(rotated)
    assert result.size == 8
    assert result.signers == (key.kid, other_key.kid)
    assert result.active_kid == other_key.kid
    jwks = load_jwks(rotated / "keys.jwks.json")
    assert [k["kid"] for k in jwks["keys"]] == [other_key.kid, key.kid]
    entries = _entries(rotated)
    old_receipt, new_receipt = entries[1].entry.body["receipt"], entries[6].entry.body["receipt"]
    assert verify_receipt(old_receipt, jwks)["log"]["seq"] == 1
    assert verify_receipt(new_receipt, jwks)["jti"] == "after"
    checkpoint = (rotated / "checkpoint").read_text()
    parse_and_verify_checkpoint(checkpoint, other_key.verifying_key, ORIGIN)  # the new key's
    with pytest.raises(VerificationError):
        parse_and_verify_checkpoint(checkpoint, key.verifying_key, ORIGIN)


def test_a_checkpoint_held_from_before_the_rotation_still_verifies(
    tmp_path: Path, key: SigningKey, other_key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=4)
    held = (tmp_path / "checkpoint").read_text()  # signed by the old key, size 5
    with open_log(tmp_path, key) as log:
        log.rotate(other_key)
    result = verify_log(tmp_path, checkpoints=[held])
    assert result.held_checkpoints == (5,)
    assert result.checkpoint_size == 6


def test_a_retired_key_never_opens_the_log_again(
    rotated: Path, key: SigningKey, other_key: SigningKey
) -> None:
    with pytest.raises(AuditError, match=f"key {key.kid} was retired"):
        open_log(rotated, key)
    with open_log(rotated, other_key) as log:
        with pytest.raises(AuditError, match="has signed in this log already"):
            log.rotate(key)
        with pytest.raises(AuditError, match="written only by open and rotate"):
            log.append("key", lambda p: {"kid": key.kid})


def test_a_key_new_to_the_log_needs_the_active_keys_endorsement(
    tmp_path: Path, key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=2)
    stranger = SigningKey.generate()
    with pytest.raises(AuditError, match="broker keys rotate"):
        open_log(tmp_path, stranger)
    assert verify_log(tmp_path).size == 3  # nothing was written


def test_an_unendorsed_change_is_trusted_only_through_an_independent_key_set(
    tmp_path: Path, key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=2)
    replacement = SigningKey.generate()  # the old key was lost
    with open_log(tmp_path, replacement, unsafe_unendorsed_key_change=True) as log:
        assert log.key_history == (key.kid, replacement.kid)
        log.append("decision", decision_body(replacement))
    assert "endorsed_by" not in _entries(tmp_path)[3].entry.body
    with pytest.raises(VerificationError, match=r"entry 3: key change .* is not endorsed"):
        verify_log(tmp_path)
    trusted = {"keys": [replacement.public_jwk(), key.public_jwk()]}
    result = verify_log(tmp_path, jwks=trusted)
    assert result.unendorsed_key_changes == (3,)
    assert result.active_kid == replacement.kid


# ---------------------------------------------------------------------- the command line


def test_keys_rotate_then_export(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    pem, audit = tmp_path / "broker.pem", tmp_path / "audit"
    key.save_pem(pem)
    with _log(audit, key, "b1"):
        pass
    assert (
        run("keys", "rotate", "--key", str(pem), "--audit-dir", str(audit), "--broker-id", "b1")
        == 0
    )
    out = capsys.readouterr().out
    new = SigningKey.load_pem(pem)
    assert new.kid != key.kid
    assert f"new key {new.kid} signs from entry 1 on, endorsed by the old key" in out
    assert f"old key {key.kid} retired" in out
    assert not staged_key_path(pem).exists()
    assert run("keys", "export", "--audit-dir", str(audit)) == 0
    assert [k["kid"] for k in json.loads(capsys.readouterr().out)["keys"]] == [new.kid, key.kid]
    assert verify_log(audit).active_kid == new.kid


def _log(directory: Path, key: SigningKey, broker_id: str) -> AuditLog:
    return AuditLog.open(directory, key, origin=origin_for(broker_id))


def test_keys_rotate_from_the_broker_config(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keys").mkdir()
    key.save_pem(tmp_path / "keys" / "signing.pem")
    (tmp_path / "issuer.jwks.json").write_text('{"keys": []}')
    config = tmp_path / "broker.toml"
    config.write_text(
        'broker_id = "cfg-broker"\nlisten = "127.0.0.1:0"\npolicy_dir = "policies"\n'
        'signing_key_file = "keys/signing.pem"\naudit_dir = "audit"\n'
        'matcher_address = "unix:/tmp/m.sock"\n'
        '[[issuers]]\nissuer = "i"\njwks_file = "issuer.jwks.json"\n'
    )
    with _log(tmp_path / "audit", key, "cfg-broker"):
        pass
    assert run("keys", "rotate", "--config", str(config)) == 0
    capsys.readouterr()
    assert (
        verify_log(tmp_path / "audit").signers[-1]
        == SigningKey.load_pem(tmp_path / "keys" / "signing.pem").kid
    )
    assert run("keys", "rotate", "--config", str(config), "--key", "x.pem") == 1
    assert "either --config or" in capsys.readouterr().err


def test_keys_rotate_refuses_an_unfinished_rotation_and_a_running_broker(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    pem, audit = tmp_path / "broker.pem", tmp_path / "audit"
    key.save_pem(pem)
    args = ("keys", "rotate", "--key", str(pem), "--audit-dir", str(audit), "--broker-id", "b1")
    assert run(*args) == 1
    assert "no log to rotate in" in capsys.readouterr().err
    with _log(audit, key, "b1") as log:
        assert run(*args) == 1  # the broker (here: this writer) holds the log
        assert "another writer holds this log" in capsys.readouterr().err
        assert not staged_key_path(pem).exists()  # the staged key was never used: removed
        assert log.size == 1
    staged_key_path(pem).write_text("left over")
    assert run(*args) == 1
    assert "an earlier rotation was interrupted" in capsys.readouterr().err
    assert SigningKey.load_pem(pem).kid == key.kid


def test_keys_rotate_unendorsed_only_when_the_active_key_is_lost(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    pem, audit = tmp_path / "broker.pem", tmp_path / "audit"
    key.save_pem(pem)
    with _log(audit, key, "b1"):
        pass
    args = ("keys", "rotate", "--key", str(pem), "--audit-dir", str(audit), "--broker-id", "b1")
    assert run(*args, "--unendorsed") == 1
    assert "rotate without --unendorsed" in capsys.readouterr().err
    pem.unlink()  # now it is lost
    assert run(*args, "--unendorsed") == 0
    assert "NOT endorsed" in capsys.readouterr().out
    assert run("audit", "verify", str(audit)) == 1
    assert "is not endorsed" in capsys.readouterr().out
    trusted = tmp_path / "trusted.json"
    trusted.write_text((audit / "keys.jwks.json").read_text())  # obtained independently
    assert run("audit", "verify", str(audit), "--jwks", str(trusted)) == 0
    assert "key change at entry 1: not endorsed; trusted through --jwks" in capsys.readouterr().out


def test_keys_export_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("keys", "export", "--audit-dir", str(tmp_path)) == 1
    assert "cannot read key set" in capsys.readouterr().err
