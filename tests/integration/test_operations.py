"""Verify, Enroll and Expunge end to end."""

from datetime import UTC, datetime, timedelta

import grpc
import numpy as np
import pytest
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from broker.client import DeniedError, Justification
from tests.integration.audit_reading import entries, receipt_claims

WARRANT = Justification("criminal_investigation", "warrant", "W-9", "CASE-9")
ENROLMENT = Justification("enrolment", "statute", "ORS 181A.155", "RPD-BOOK-1")
EXPUNGEMENT = Justification("expungement", "court_order", "OR-CIRC-2026-EXP-3", "RPD-EXP-3")


def stub_and_auth(env, who):
    stub = broker_pb2_grpc.BiometricBrokerStub(grpc.insecure_channel(env.broker.address))
    return stub, (("authorization", f"Bearer {env.token(who)}"),)


def timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def test_verify_confirms_the_mate_and_rejects_a_stranger(env):
    client = env.client("fbi-investigator")
    mate = client.verify(
        WARRANT, "us-fbi:p015:face:0", "face", env.gallery.probe("us-fbi", 15, "face")
    )
    assert mate.released and mate.match and mate.score > 0.5
    stranger = client.verify(WARRANT, "us-fbi:p015:face:0", "face", env.gallery.stranger("face"))
    assert not stranger.match
    assert receipt_claims(stranger.decision_receipt.jws)["op"] == "verify"


def test_verify_does_not_release_a_sanctuary_record_for_immigration(env):
    admin = Justification("immigration_enforcement", "administrative_warrant", "I-1", "H-1")
    response = env.client("hsi-officer").verify(
        admin, "riverton-pd:p020:face:0", "face", env.gallery.probe("riverton-pd", 20, "face")
    )
    assert not response.released and not response.match and response.score == 0.0


def enroll_request(env, record_id: str, template: np.ndarray) -> broker_pb2.EnrollRequest:
    now = datetime.now(UTC)
    return broker_pb2.EnrollRequest(
        justification=ENROLMENT.to_proto(),
        record_id=record_id,
        modality=broker_pb2.MODALITY_FACE,
        template=template.tolist(),
        provenance=broker_pb2.Provenance(
            origin_jurisdiction="US-OR-RIVERTON",
            source_agency="riverton-pd",
            lineage=["riverton-pd"],
            consent_scopes=["criminal_investigation"],
            captured_at=timestamp(now - timedelta(hours=1)),
            retain_until=timestamp(now + timedelta(days=365)),
        ),
    )


def test_an_enrolled_record_is_searchable_at_once_and_gone_after_expunge(env):
    identity = env.gallery.synthetic.new_identity("face")
    stub, records_officer = stub_and_auth(env, "riverton-records")
    enrolled = stub.Enroll(
        enroll_request(env, "riverton-pd:new-booking-1", env.gallery.synthetic.sample(identity)),
        metadata=records_officer,
    )
    assert enrolled.record_id == "riverton-pd:new-booking-1"
    assert receipt_claims(enrolled.decision_receipt.jws)["op"] == "enroll"

    detective = env.client("riverton-detective")
    found = detective.identify(
        WARRANT, "face", env.gallery.synthetic.sample(identity), max_results=3
    )
    assert [c.record_id for c in found.candidates][:1] == ["riverton-pd:new-booking-1"]

    with pytest.raises(grpc.RpcError) as duplicate:
        stub.Enroll(
            enroll_request(
                env, "riverton-pd:new-booking-1", env.gallery.synthetic.sample(identity)
            ),
            metadata=records_officer,
        )
    assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS

    expunged = stub.Expunge(
        broker_pb2.ExpungeRequest(
            justification=EXPUNGEMENT.to_proto(), record_id="riverton-pd:new-booking-1"
        ),
        metadata=records_officer,
    )
    assert expunged.removed
    again = detective.identify(
        WARRANT, "face", env.gallery.synthetic.sample(identity), max_results=3
    )
    assert "riverton-pd:new-booking-1" not in [c.record_id for c in again.candidates]
    kinds = [e["kind"] for e in entries(env.audit_dir)[expunged.decision_receipt.log_seq :]]
    assert kinds[:2] == ["decision", "outcome"]


def test_enrolling_for_another_agency_is_denied(env):
    stub, fbi = stub_and_auth(env, "fbi-investigator")
    with pytest.raises(grpc.RpcError) as info:
        stub.Enroll(enroll_request(env, "x:1", env.gallery.stranger("face")), metadata=fbi)
    assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_unknown_agency_is_denied_with_its_reason(env):
    with pytest.raises(DeniedError) as denied:
        env.client("unknown-agency").identify(WARRANT, "face", env.gallery.stranger("face"))
    assert "unknown_agency" in [code for code, _ in denied.value.reasons]
