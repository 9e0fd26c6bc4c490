"""Proof bundles: the C2SP tlog-proof format (against the spec's own example), inclusion and
consistency proofs from the live log and from a directory snapshot, their offline
verification with the public keys alone, and `broker audit prove|verify-proof`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, sign_checkpoint
from broker.audit.entry import Entry, SignedEntry
from broker.audit.log import LogPosition
from broker.audit.proof import (
    ConsistencyBundle,
    InclusionBundle,
    verify_consistency_bundle,
    verify_inclusion_bundle,
)
from broker.audit.prover import prove_consistency, prove_inclusion, seq_of_receipt
from broker.audit.snapshot import LogSnapshot
from broker.cli import audit as audit_cli
from broker.errors import AuditError, RollbackError, VerificationError
from broker.keys import SigningKey, VerifyingKey
from broker.receipts import ReceiptVerifier
from tests.audit.audit_helpers import ORIGIN, VECTORS, decision_body, fill_log, open_log

# The example of c2sp.org/tlog-proof@v1 verbatim (its signatures are elided by the spec, so
# it is a format vector: parsing and writing, not signature checking).
SPEC_EXAMPLE = (VECTORS / "tlog_proof_c2sp.txt").read_text(encoding="utf-8")


def _entries(directory: Path) -> list[SignedEntry]:
    lines = (directory / "log.jsonl").read_bytes().splitlines()
    return [SignedEntry.parse_line(line) for line in lines]


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    audit_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


@pytest.fixture
def log_dir(tmp_path: Path, key: SigningKey) -> Path:
    directory = tmp_path / "log"
    fill_log(directory, key, decisions=12)  # 13 entries, checkpointed at close
    return directory


def test_the_spec_example_parses_and_is_written_back_byte_for_byte() -> None:
    bundle = InclusionBundle.from_text(SPEC_EXAMPLE)
    assert bundle.index == 73894
    assert len(bundle.proof) == 5
    assert bundle.extra is not None and bundle.extra.startswith(b"age-v1.2.1-darwin-arm64")
    assert bundle.checkpoint.startswith("example.com/fancylog\n109482\n")
    assert bundle.to_text() == SPEC_EXAMPLE


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda t: t.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"), "first line"),
        (lambda t: t.replace("index 73894", "index 073894"), "not a decimal"),
        (lambda t: t.replace("index 73894\n", ""), "'index N' line"),
        (lambda t: t.replace("gSKyXoYZ", "gSKyXoY-"), "not base64"),
        (lambda t: t.replace("AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=", "AAAA"), "32 bytes"),
        (lambda t: t.replace("5vk=\n\nexample", "5vk=\nexample"), "hash"),
        (lambda t: t.split("\n\n")[0] + "\n", "no empty line"),
        (lambda t: t.replace("extra YWdl", "extra YWd"), "base64"),
    ],
    ids=["version", "leading-zero", "no-index", "alphabet", "short-hash", "no-gap", "cut", "extra"],
)
def test_malformed_tlog_proofs_are_refused(change: object, needle: str) -> None:
    with pytest.raises(VerificationError, match=needle):
        InclusionBundle.from_text(change(SPEC_EXAMPLE))  # type: ignore[operator]


def test_inclusion_bundles_from_a_snapshot_verify_with_the_public_key_alone(
    log_dir: Path, key: SigningKey
) -> None:
    snapshot = LogSnapshot.load(log_dir)
    entries = _entries(log_dir)
    for seq in (0, 1, 6, 12):
        answer = prove_inclusion(snapshot, seq, with_entry=True)
        text = answer.bundle().to_text()
        verified = verify_inclusion_bundle(
            InclusionBundle.from_text(text), [key.verifying_key], origin=ORIGIN
        )
        assert verified.index == seq
        assert verified.checkpoint.size == 13
        assert verified.entry == entries[seq].entry
        assert verified.leaf_hash == entries[seq].entry.hash()


def test_tampered_inclusion_bundles_fail(
    log_dir: Path, key: SigningKey, other_key: SigningKey
) -> None:
    bundle = prove_inclusion(LogSnapshot.load(log_dir), 5, with_entry=True).bundle()
    assert bundle.extra is not None
    keys = [key.verifying_key]
    cases: list[tuple[InclusionBundle, list[VerifyingKey], str | None, str]] = [
        (bundle, [other_key.verifying_key], None, "no signature from a trusted key"),
        (bundle, keys, "another.test/log", "not the expected"),
        (
            InclusionBundle(6, bundle.proof, bundle.checkpoint, bundle.extra),
            keys,
            None,
            "inclusion",
        ),
        (
            InclusionBundle(
                5, bundle.proof, bundle.checkpoint, bundle.extra.replace(b'"al', b'"AL')
            ),
            keys,
            None,
            "inclusion",
        ),
        (
            InclusionBundle(5, (b"\x00" * 32, *bundle.proof[1:]), bundle.checkpoint, bundle.extra),
            keys,
            None,
            "does not lead to the root",
        ),
        (InclusionBundle(5, bundle.proof, bundle.checkpoint), keys, None, "no entry"),
        (InclusionBundle(99, bundle.proof, bundle.checkpoint, bundle.extra), keys, None, "not in"),
        (
            InclusionBundle(5, bundle.proof, bundle.checkpoint, bundle.extra + b" "),
            keys,
            None,
            "inclusion",
        ),
    ]
    for case, trusted, origin, needle in cases:
        with pytest.raises(VerificationError, match=needle):
            verify_inclusion_bundle(case, trusted, origin=origin)


def test_an_entry_whose_seq_is_not_its_position_is_refused(key: SigningKey) -> None:
    """A lying log can sign a tree whose leaf 0 is an entry claiming seq 3; the proof is
    mathematically valid, the entry is not where it says."""
    entry = Entry(3, "ab" * 32, "2026-01-01T00:00:00Z", "policy", {"n": 1})
    extra = entry.canonical_bytes()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.leaf_hash(extra)), key)
    with pytest.raises(VerificationError, match="seq 3 is not the index 0"):
        verify_inclusion_bundle(InclusionBundle(0, (), note, extra), [key.verifying_key])
    spaced = b" " + extra  # hashes fine, but is not the canonical form
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.leaf_hash(spaced)), key)
    with pytest.raises(VerificationError, match="canonical form"):
        verify_inclusion_bundle(InclusionBundle(0, (), note, spaced), [key.verifying_key])


def test_a_leaf_hash_alone_can_be_proved(log_dir: Path, key: SigningKey) -> None:
    answer = prove_inclusion(LogSnapshot.load(log_dir), 3)
    assert answer.entry is None
    bundle = answer.bundle()
    assert "extra" not in bundle.to_text()
    verified = verify_inclusion_bundle(bundle, [key.verifying_key], leaf_hash=answer.leaf_hash)
    assert verified.entry is None
    with pytest.raises(VerificationError, match="inclusion"):
        verify_inclusion_bundle(bundle, [key.verifying_key], leaf_hash=merkle.leaf_hash(b"x"))


def test_the_live_log_signs_a_checkpoint_on_demand_for_a_fresh_entry(
    tmp_path: Path, key: SigningKey
) -> None:
    with open_log(tmp_path, key, checkpoint_every=1000) as log:
        appended = log.append("decision", decision_body(key))
        assert log.checkpoint() is None  # not due yet
        answer = prove_inclusion(log, appended.seq, with_entry=True)
        assert answer.tree_size == 2
        assert answer.checkpoint is not None and log.checkpoint() == answer.checkpoint.text
        verified = verify_inclusion_bundle(answer.bundle(), [key.verifying_key])
        assert verified.entry is not None and verified.entry.kind == "decision"
        assert prove_inclusion(log, 0).checkpoint == answer.checkpoint  # nothing new to sign
        with pytest.raises(AuditError, match="tree_size"):
            log.inclusion_proof(0, 99)


def _receipt_naming(seq: int, prev: str, key: SigningKey) -> str:
    receipt: str = decision_body(key, jti="forged")(LogPosition(seq, prev))["receipt"]
    return receipt


def test_a_receipt_unlocks_only_the_entry_that_holds_it(tmp_path: Path, key: SigningKey) -> None:
    with open_log(tmp_path, key) as log:
        appended = log.append("decision", decision_body(key))
        verifier = ReceiptVerifier(log.jwks())
        assert seq_of_receipt(log, appended.body["receipt"], verifier) == 1
        prev = log.entry(1).entry.prev
        # Validly signed, naming entry 1, but not the receipt entry 1 holds.
        with pytest.raises(VerificationError, match="does not hold this receipt"):
            seq_of_receipt(log, _receipt_naming(1, prev, key), verifier)
        with pytest.raises(VerificationError, match="not in the log"):
            seq_of_receipt(log, _receipt_naming(50, prev, key), verifier)
        with pytest.raises(VerificationError, match="unknown key"):
            seq_of_receipt(log, _receipt_naming(1, prev, SigningKey.generate()), verifier)


def test_a_changed_entry_on_disk_is_never_served(tmp_path: Path, key: SigningKey) -> None:
    with open_log(tmp_path, key) as log:
        log.append("policy", lambda p: {"n": 1})
        path = tmp_path / "log.jsonl"
        path.write_bytes(path.read_bytes().replace(b'"n":1', b'"n":2'))
        with pytest.raises(AuditError, match="changed on disk"):
            log.entry(1)


def test_consistency_bundles_verify_and_catch_rollbacks(log_dir: Path, key: SigningKey) -> None:
    held = (log_dir / "checkpoint").read_text()  # 13 entries
    with open_log(log_dir, key) as log:
        for n in range(5):
            log.append("policy", lambda p, n=n: {"n": n})
    snapshot = LogSnapshot.load(log_dir)
    answer = prove_consistency(snapshot, 13)
    assert answer.new_size == 18
    bundle = answer.bundle(held)
    old, new = verify_consistency_bundle(
        ConsistencyBundle.from_text(bundle.to_text()), [key.verifying_key], held=held
    )
    assert (old.size, new.size) == (13, 18)
    assert ConsistencyBundle.from_text(bundle.to_text()) == bundle
    unsigned = answer.bundle()  # no signed old head in it
    with pytest.raises(VerificationError, match="nothing signed vouches"):
        verify_consistency_bundle(unsigned, [key.verifying_key])
    verify_consistency_bundle(unsigned, [key.verifying_key], held=held)
    other_head = answer.bundle((log_dir / "checkpoint").read_text())  # the new one as "old"
    with pytest.raises(RollbackError):
        verify_consistency_bundle(
            ConsistencyBundle(18, new.root, held, (), None), [key.verifying_key], held=held
        )
    with pytest.raises(VerificationError, match="not the bundle's old tree head"):
        verify_consistency_bundle(other_head, [key.verifying_key])
    flipped = ConsistencyBundle(
        13, old.root, bundle.new_checkpoint, (b"\x01" * 32, *answer.proof[1:]), held
    )
    with pytest.raises(VerificationError, match="consistency"):
        verify_consistency_bundle(flipped, [key.verifying_key])


def test_a_snapshot_refuses_what_the_checkpoint_does_not_cover(
    tmp_path: Path, key: SigningKey
) -> None:
    fill_log(tmp_path, key, decisions=2)
    log = open_log(tmp_path, key, checkpoint_every=1000)
    try:
        log.append("policy", lambda p: {"n": 1})
        snapshot = LogSnapshot.load(tmp_path)  # the writer is still running
        assert snapshot.size == 4
        with pytest.raises(VerificationError, match="entry 3 is newer than the log's latest"):
            prove_inclusion(snapshot, 3)
        assert prove_inclusion(snapshot, 2).tree_size == 3
    finally:
        log.close()


# ---------------------------------------------------------------------- the command line


def test_prove_and_verify_proof_by_seq_jti_and_receipt(
    tmp_path: Path, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text((log_dir / "keys.jwks.json").read_text())
    receipt = tmp_path / "receipt.jwt"
    receipt.write_text(_entries(log_dir)[3].entry.body["receipt"] + "\n")
    for how, value, seq in (("--seq", "4", 4), ("--jti", "r-2", 3), ("--receipt", str(receipt), 3)):
        out = tmp_path / f"proof{how}.tlog-proof"
        assert run("audit", "prove", str(log_dir), how, value, "--out", str(out)) == 0
        assert out.read_text().startswith("c2sp.org/tlog-proof@v1\nextra ")
        assert f"\nindex {seq}\n" in out.read_text()
        assert run("audit", "verify-proof", str(out), "--jwks", str(jwks)) == 0
        kind = "decision" if seq % 2 else "outcome"
        assert capsys.readouterr().out.startswith(f"OK: entry {seq} ({kind}) is in the tree of 13")
    proof = tmp_path / "proof--receipt.tlog-proof"
    assert (
        run("audit", "verify-proof", str(proof), "--jwks", str(jwks), "--receipt", str(receipt))
        == 0
    )
    assert capsys.readouterr().out.startswith("OK: receipt r-2 is entry 3 of the tree of 13")
    wrong = tmp_path / "proof--seq.tlog-proof"
    assert (
        run("audit", "verify-proof", str(wrong), "--jwks", str(jwks), "--receipt", str(receipt))
        == 1
    )
    assert capsys.readouterr().out.startswith("FAIL: proof: is for entry 4")


def test_prove_consistency_from_a_held_checkpoint(
    tmp_path: Path, log_dir: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    held = tmp_path / "held"
    held.write_text((log_dir / "checkpoint").read_text())
    with open_log(log_dir, key) as log:
        log.append("policy", lambda p: {"n": 1})
    jwks = tmp_path / "jwks.json"
    jwks.write_text((log_dir / "keys.jwks.json").read_text())
    out = tmp_path / "consistency.json"
    assert (
        run("audit", "prove", str(log_dir), "--from-checkpoint", str(held), "--out", str(out)) == 0
    )
    assert json.loads(out.read_text())["format"] == "biometric-broker/tlog-consistency@v1"
    assert run("audit", "verify-proof", str(out), "--jwks", str(jwks)) == 0
    assert "OK: the tree of 13 entries" in capsys.readouterr().out
    by_size = tmp_path / "by-size.json"
    assert run("audit", "prove", str(log_dir), "--old-size", "13", "--out", str(by_size)) == 0
    assert run("audit", "verify-proof", str(by_size), "--jwks", str(jwks)) == 1
    assert "nothing signed vouches" in capsys.readouterr().out
    assert (
        run("audit", "verify-proof", str(by_size), "--jwks", str(jwks), "--checkpoint", str(held))
        == 0
    )


def test_prove_fails_cleanly(
    tmp_path: Path, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("audit", "prove", str(log_dir), "--seq", "13") == 1
    assert "entry 13 is newer" in capsys.readouterr().err
    assert run("audit", "prove", str(log_dir), "--jti", "nope") == 1
    assert "no decision entry holds" in capsys.readouterr().err
    assert run("audit", "prove", str(tmp_path / "none"), "--seq", "0") == 1
    assert "no log file" in capsys.readouterr().err
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    assert run("audit", "verify-proof", str(junk), "--jwks", str(log_dir / "keys.jwks.json")) == 1
    assert capsys.readouterr().out.startswith("FAIL: consistency bundle")
    assert not (tmp_path / "out").exists()
    assert run("audit", "prove", str(log_dir), "--seq", "99", "--out", str(tmp_path / "out")) == 1
    assert not (tmp_path / "out").exists()  # no half-written bundle
