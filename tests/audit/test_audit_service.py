"""The audit proof RPCs against the real broker and matcher processes: no token needed, a
receipt's proof verifies offline with the keys GetSigningKeys serves, a second JOSE library
verifies live receipts, and the CLI proves, verifies and reports on the live log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from broker.audit.proof import (
    ConsistencyBundle,
    InclusionBundle,
    verify_consistency_bundle,
    verify_inclusion_bundle,
)
from broker.cli.main import main
from broker.client import DeniedError, Justification
from broker.demo.environment import PRINCIPALS, DemoEnvironment, start_environment
from broker.keys import parse_jwks
from broker.receipt_check import check_receipt

pytestmark = pytest.mark.filterwarnings("ignore:EdDSA is deprecated")  # joserfc, see receipts

ORIGIN = "demo-broker/audit"
CASE_ID, REFERENCE = "CASE-SECRET-4471", "OR-WARRANT-2026-0993"
WARRANT = Justification("criminal_investigation", "warrant", REFERENCE, CASE_ID)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoEnvironment]:
    with start_environment(tmp_path_factory.mktemp("audit-rpc")) as environment:
        yield environment


@pytest.fixture(scope="module")
def public(env: DemoEnvironment) -> Iterator[Any]:
    """The BiometricBroker stub with no token at all: what the public can call."""
    with grpc.insecure_channel(env.broker.address) as channel:
        yield broker_pb2_grpc.BiometricBrokerStub(channel)


def _jwks(public: Any) -> dict[str, Any]:
    keys: dict[str, Any] = json.loads(
        public.GetSigningKeys(broker_pb2.GetSigningKeysRequest()).jwks_json
    )
    return keys


def _allowed_receipt(env: DemoEnvironment) -> tuple[str, int]:
    response = env.client("fbi-investigator").identify(
        WARRANT, "face", env.gallery.probe("riverton-pd", 0, "face")
    )
    return response.decision_receipt.jws, response.decision_receipt.log_seq


def _denied_receipt(env: DemoEnvironment) -> str:
    with pytest.raises(DeniedError) as denied:
        env.client("unknown-agency").identify(WARRANT, "face", env.gallery.stranger("face"))
    return str(denied.value.details.receipt.jws)


def test_a_receipt_proof_from_the_broker_verifies_offline(
    env: DemoEnvironment, public: Any
) -> None:
    jwks = _jwks(public)
    for receipt in (_allowed_receipt(env)[0], _denied_receipt(env)):
        answer = public.GetInclusionProof(broker_pb2.GetInclusionProofRequest(receipt_jws=receipt))
        assert answer.tlog_proof.startswith("c2sp.org/tlog-proof@v1\nextra ")
        checked = check_receipt(receipt, jwks, proof=answer.tlog_proof, origin=ORIGIN)
        assert checked.log_seq == answer.log_seq
        assert checked.included_in is not None
        assert checked.included_in.size == answer.tree_size > answer.log_seq
        assert json.loads(answer.entry)["body"] == {"receipt": receipt}


def test_a_second_jose_library_verifies_live_receipts(env: DemoEnvironment, public: Any) -> None:
    receipt, seq = _allowed_receipt(env)
    keys = KeySet.import_key_set(cast(Any, _jwks(public)))
    token = jose_jwt.decode(receipt, keys, algorithms=["EdDSA"])
    assert token.header["typ"] == "decision-receipt+jwt"
    assert token.claims["log"]["seq"] == seq
    assert token.claims["sub"] == PRINCIPALS["fbi-investigator"].officer


def test_by_seq_the_answer_is_hashes_only(env: DemoEnvironment, public: Any) -> None:
    _, seq = _allowed_receipt(env)
    answer = public.GetInclusionProof(broker_pb2.GetInclusionProofRequest(log_seq=seq))
    assert answer.entry == b"" and answer.tlog_proof == ""
    assert answer.checkpoint  # the latest, signed on demand to cover the entry
    bundle = InclusionBundle(seq, tuple(answer.proof), answer.checkpoint)
    keys = list(parse_jwks(_jwks(public)).values())
    verify_inclusion_bundle(bundle, keys, origin=ORIGIN, leaf_hash=answer.leaf_hash)


def test_the_log_only_grows_between_two_checkpoints(env: DemoEnvironment, public: Any) -> None:
    old = public.GetCheckpoint(broker_pb2.GetCheckpointRequest())
    assert old.origin == ORIGIN and old.checkpoint.startswith(f"{ORIGIN}\n{old.tree_size}\n")
    receipt, _ = _allowed_receipt(env)
    public.GetInclusionProof(broker_pb2.GetInclusionProofRequest(receipt_jws=receipt))
    answer = public.GetConsistencyProof(
        broker_pb2.GetConsistencyProofRequest(old_size=old.tree_size)
    )
    assert answer.new_size > old.tree_size
    bundle = ConsistencyBundle(
        old.tree_size, old.root_hash, answer.checkpoint, tuple(answer.proof), old.checkpoint
    )
    keys = list(parse_jwks(_jwks(public)).values())
    before, after = verify_consistency_bundle(bundle, keys, origin=ORIGIN)
    assert (before.size, after.size) == (old.tree_size, answer.new_size)


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    [
        ("GetInclusionProof", broker_pb2.GetInclusionProofRequest(log_seq=10**9), "log_seq"),
        ("GetInclusionProof", broker_pb2.GetInclusionProofRequest(), "entry"),
        (
            "GetInclusionProof",
            broker_pb2.GetInclusionProofRequest(log_seq=0, tree_size=10**9),
            "tree_size",
        ),
        (
            "GetInclusionProof",
            broker_pb2.GetInclusionProofRequest(receipt_jws="not.a.receipt"),
            "receipt_jws",
        ),
        ("GetConsistencyProof", broker_pb2.GetConsistencyProofRequest(old_size=0), "old_size"),
        (
            "GetConsistencyProof",
            broker_pb2.GetConsistencyProofRequest(old_size=10**9),
            "old_size",
        ),
        (
            "GetConsistencyProof",
            broker_pb2.GetConsistencyProofRequest(old_size=1, new_size=10**9),
            "new_size",
        ),
    ],
    ids=["seq", "none", "tree", "receipt", "old-zero", "old-big", "new-big"],
)
def test_bad_proof_requests_name_the_field(
    public: Any, method: str, request_: Any, field: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        getattr(public, method)(request_)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(f"{field}: ")


def test_the_cli_proves_verifies_and_reports_on_the_live_log(
    env: DemoEnvironment, public: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt, seq = _allowed_receipt(env)
    _denied_receipt(env)
    public.GetInclusionProof(broker_pb2.GetInclusionProofRequest(receipt_jws=receipt))
    receipt_file, jwks = str(tmp_path / "receipt.jwt"), str(tmp_path / "jwks.json")
    Path(receipt_file).write_text(receipt)
    Path(jwks).write_text(json.dumps(_jwks(public)))
    audit, proof = str(env.audit_dir), str(tmp_path / "p.tlog-proof")
    assert main(["audit", "prove", audit, "--receipt", receipt_file, "--out", proof]) == 0
    assert main(["receipt", "verify", receipt_file, "--jwks", jwks, "--proof", proof]) == 0
    assert f"in the log: entry {seq} is in the tree of" in capsys.readouterr().out
    assert main(["audit", "verify", audit, "--jwks", jwks]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    html = tmp_path / "report.html"
    assert main(["audit", "report", audit, "--by", "day", "--html", str(html)]) == 0
    report = capsys.readouterr().out
    assert json.loads(report)["totals"]["searches_denied"] >= 1
    for personal in (*(p.officer for p in PRINCIPALS.values()), CASE_ID, REFERENCE, "riverton-pd:"):
        assert personal not in report
        assert personal not in html.read_text()
