"""Caller-side receipt verification: broker.receipt_check and `broker receipt verify`."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from broker.audit.prover import prove_inclusion
from broker.audit.snapshot import LogSnapshot
from broker.cli import receipt as receipt_cli
from broker.errors import VerificationError
from broker.keys import SigningKey
from broker.receipt_check import check_receipt
from tests.audit.audit_helpers import ORIGIN, decision_body, fill_log, open_log


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    receipt_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


class Fixture:
    def __init__(self, directory: Path, key: SigningKey) -> None:
        fill_log(directory, key, decisions=8)
        self.directory = directory
        self.jwks = {"keys": [key.public_jwk()]}
        snapshot = LogSnapshot.load(directory)
        self.receipts = {seq: snapshot.entry(seq).entry.body["receipt"] for seq in range(1, 9, 2)}
        self.proofs = {
            seq: prove_inclusion(snapshot, seq, with_entry=True).bundle().to_text()
            for seq in range(9)
        }


@pytest.fixture
def logged(tmp_path: Path, key: SigningKey) -> Fixture:
    return Fixture(tmp_path / "log", key)


def test_a_receipt_and_its_proof_check_out(logged: Fixture) -> None:
    checked = check_receipt(logged.receipts[3], logged.jwks, proof=logged.proofs[3], origin=ORIGIN)
    assert checked.log_seq == 3
    assert checked.jti == "r-2"
    assert checked.included_in is not None and checked.included_in.size == 9
    plain = check_receipt(logged.receipts[3], logged.jwks, issuer="broker-test")
    assert plain.included_in is None


@pytest.mark.parametrize(
    ("receipt_seq", "proof_seq", "needle"),
    [
        (3, 5, "is for entry 5"),  # another decision's proof
        (3, 4, "is for entry 4"),  # an outcome's proof
    ],
)
def test_a_proof_of_another_entry_is_refused(
    logged: Fixture, receipt_seq: int, proof_seq: int, needle: str
) -> None:
    with pytest.raises(VerificationError, match=needle):
        check_receipt(logged.receipts[receipt_seq], logged.jwks, proof=logged.proofs[proof_seq])


def test_receipt_checks_fail_closed(logged: Fixture, other_key: SigningKey) -> None:
    receipt, proof = logged.receipts[3], logged.proofs[3]
    foreign = {"keys": [other_key.public_jwk()]}
    with pytest.raises(VerificationError, match="unknown key"):
        check_receipt(receipt, foreign, proof=proof)
    with pytest.raises(VerificationError, match="issuer"):
        check_receipt(receipt, logged.jwks, issuer="another-broker")
    with pytest.raises(VerificationError, match="origin"):
        check_receipt(receipt, logged.jwks, proof=proof, origin="elsewhere.test/audit")
    head, body, signature = receipt.split(".")
    with pytest.raises(VerificationError):
        check_receipt(f"{head}.{body}.{signature[:-2]}AA", logged.jwks, proof=proof)
    no_entry = proof.replace(proof.split("\n")[1] + "\n", "")  # drop the extra line
    with pytest.raises(VerificationError, match="no entry"):
        check_receipt(receipt, logged.jwks, proof=no_entry)


def test_a_receipt_the_log_never_recorded_has_no_proof(
    tmp_path: Path, logged: Fixture, key: SigningKey
) -> None:
    """A receipt signed by the right key at a position whose entry holds another receipt:
    the signature verifies, the proof exposes it."""
    with open_log(tmp_path / "rival", key) as rival:  # same key, other decisions
        rival.append("decision", decision_body(key, jti="x-1"))
        rival.append("policy", lambda p: {"n": 2})
        forged = rival.append("decision", decision_body(key, jti="x-3")).body["receipt"]
    assert check_receipt(forged, logged.jwks).log_seq == 3  # the signature alone is fine
    with pytest.raises(VerificationError, match="is for entry 3, but the receipt sits at"):
        check_receipt(forged, logged.jwks, proof=logged.proofs[3])


def test_cli_receipt_verify(
    tmp_path: Path, logged: Fixture, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    jwks = logged.directory / "keys.jwks.json"
    receipt, proof = tmp_path / "r.jwt", tmp_path / "p.tlog-proof"
    receipt.write_text(logged.receipts[5] + "\n")
    proof.write_text(logged.proofs[5])
    assert run("receipt", "verify", str(receipt), "--jwks", str(jwks)) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: receipt r-4: allow identify by broker-test, signed by key ")
    assert "log entry 5" in out
    assert run("receipt", "verify", str(receipt), "--jwks", str(jwks), "--proof", str(proof)) == 0
    assert "in the log: entry 5 is in the tree of 9 entries" in capsys.readouterr().out
    proof.write_text(logged.proofs[7])
    assert run("receipt", "verify", str(receipt), "--jwks", str(jwks), "--proof", str(proof)) == 1
    assert capsys.readouterr().out.startswith("FAIL: proof: is for entry 7")
    assert run("receipt", "verify", str(tmp_path / "none"), "--jwks", str(jwks)) == 1
    assert "unreadable" in capsys.readouterr().out


def test_cli_receipt_verify_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, logged: Fixture, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(logged.receipts[1]))
    assert run("receipt", "verify", "-", "--jwks", str(logged.directory / "keys.jwks.json")) == 0
    assert "log entry 1" in capsys.readouterr().out


def test_cli_receipt_verify_after_a_rotation_uses_the_old_key(
    tmp_path: Path,
    logged: Fixture,
    key: SigningKey,
    other_key: SigningKey,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with open_log(logged.directory, key) as log:
        log.rotate(other_key)
    receipt = tmp_path / "r.jwt"
    receipt.write_text(logged.receipts[1])
    jwks = logged.directory / "keys.jwks.json"  # now both keys, the new one first
    assert run("receipt", "verify", str(receipt), "--jwks", str(jwks)) == 0
    assert f"signed by key {key.kid}" in capsys.readouterr().out
