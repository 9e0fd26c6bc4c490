"""Fail closed: a broken audit log, a broken policy or a missing key lets nothing through."""

import errno
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from broker import server
from broker.authn.dev_issuer import DevIssuer
from broker.client import DeniedError, Justification
from broker.config import BrokerConfig
from broker.demo.environment import PRINCIPALS, SHIPPED_POLICIES, start_environment, write_config
from matcher.config import MatcherConfig
from matcher.gallery import Gallery
from matcher.server import serve as serve_matcher
from matcher.synthetic import SyntheticTemplates
from tests.integration.audit_reading import entries

WARRANT = Justification("criminal_investigation", "warrant", "W-5", "CASE-5")


def timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def test_a_failing_audit_disk_is_unavailable_and_nothing_reaches_the_matcher(tmp_path):
    Gallery.create(tmp_path / "gallery").close()
    matcher = serve_matcher(MatcherConfig(tmp_path / "gallery", f"unix:{tmp_path / 'm.sock'}"))
    issuer = DevIssuer.create()
    config_path = write_config(
        tmp_path, policy_dir=SHIPPED_POLICIES, matcher_socket=tmp_path / "m.sock", issuer=issuer
    )
    disk_failed = False

    def fsync(fd: int) -> None:
        if disk_failed:
            raise OSError(errno.EIO, "injected I/O error")
        os.fsync(fd)

    broker = server.start(BrokerConfig.load(config_path, env={}), audit_fsync=fsync)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{broker.port}")
        stub = broker_pb2_grpc.BiometricBrokerStub(channel)
        officer = PRINCIPALS["riverton-records"]
        token = (("authorization", f"Bearer {issuer.mint(officer, audience='biometric-broker')}"),)
        before = entries(tmp_path / "audit")
        now = datetime.now(UTC)
        template = SyntheticTemplates(1).sample(SyntheticTemplates(1).new_identity("face"))
        request = broker_pb2.EnrollRequest(
            justification=broker_pb2.Justification(
                purpose="enrolment",
                legal_basis=broker_pb2.LegalBasis(type="statute", reference="ORS 1"),
                case_id="B-1",
            ),
            record_id="riverton-pd:must-not-exist",
            modality=broker_pb2.MODALITY_FACE,
            template=template.tolist(),
            provenance=broker_pb2.Provenance(
                origin_jurisdiction="US-OR-RIVERTON",
                source_agency="riverton-pd",
                lineage=["riverton-pd"],
                consent_scopes=["criminal_investigation"],
                captured_at=timestamp(now - timedelta(hours=1)),
                retain_until=timestamp(now + timedelta(days=30)),
            ),
        )
        disk_failed = True
        for _ in range(2):  # the first failure poisons the log; the second meets the poison
            with pytest.raises(grpc.RpcError) as info:
                stub.Enroll(request, metadata=token)
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "audit log unavailable" in info.value.details()
        assert matcher.gallery.get("riverton-pd:must-not-exist") is None
        assert entries(tmp_path / "audit") == before, "no partial entry is left behind"
        channel.close()
    finally:
        broker.server.stop(None)
        matcher.stop()


MALFORMED_DECISION = """package broker

# Allows case CASE-5, but with an obligation no broker understands. Every other input (such
# as the samples the broker checks a bundle with before loading it) is denied properly.
decision := {
	"allow": true,
	"reasons": [],
	"obligations": {"max_results": 5, "exclude_origins": [], "share_with_press": true},
} if {
	input.request.case_id == "CASE-5"
} else := {"allow": false, "reasons": [{"code": "no", "message": "no"}], "obligations": {}}

release := {"released": [c.record_id | some c in input.candidates], "withheld": []}
"""


def test_a_decision_with_an_unknown_obligation_is_a_signed_denial(tmp_path):
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "decision.rego").write_text(MALFORMED_DECISION)
    with start_environment(tmp_path / "d", policy_dir=policies) as env:
        with pytest.raises(DeniedError) as denied:
            env.client("fbi-investigator").identify(
                WARRANT, "face", env.gallery.probe("us-fbi", 12, "face")
            )
        logged = entries(env.audit_dir)
    assert [code for code, _ in denied.value.reasons] == ["policy_error"]
    assert logged[denied.value.details.receipt.log_seq]["kind"] == "decision"
    assert logged[-1]["kind"] == "decision", "a denial is never forwarded: no outcome follows"


def test_the_broker_refuses_to_start_without_its_signing_key(tmp_path):
    issuer = DevIssuer.create()
    config = write_config(
        tmp_path, policy_dir=SHIPPED_POLICIES, matcher_socket=tmp_path / "m.sock", issuer=issuer
    )
    (tmp_path / "keys" / "broker-signing.pem").unlink()
    result = subprocess.run(
        [sys.executable, "-m", "broker", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "broker-signing.pem" in result.stderr
    assert not Path(tmp_path / "audit").exists() or not entries(tmp_path / "audit")
