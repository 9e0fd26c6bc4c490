"""Identify end to end: gRPC to a real broker, real Rego, a real Annoy matcher, the real log."""

import json

import grpc
import jwt
import numpy as np
import pytest
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc

from broker.client import DeniedError, Justification
from tests.integration.audit_reading import entries, receipt_claims

WARRANT = Justification("criminal_investigation", "warrant", "W-2026-1", "CASE-1")
ADMIN_WARRANT = Justification(
    "immigration_enforcement", "administrative_warrant", "I-200-1", "HSI-1"
)


def verify_with_served_keys(env, jws: str) -> dict:
    keys = env.client("fbi-investigator").signing_keys()
    jwk_set = jwt.PyJWKSet.from_dict(json.loads(keys.jwks_json))
    kid = jwt.get_unverified_header(jws)["kid"]
    key = next(k for k in jwk_set.keys if k.key_id == kid)
    return jwt.decode(jws, key=key, algorithms=["EdDSA"], options={"verify_aud": False})


def test_an_allowed_identify_releases_the_mate_with_a_verifiable_receipt(env):
    probe = env.gallery.probe("us-fbi", 12, "face")
    response = env.client("fbi-investigator").identify(WARRANT, "face", probe, max_results=5)

    assert response.candidates, "the enrolled mate should be found"
    assert response.candidates[0].record_id.startswith("us-fbi:p012:face:")
    assert response.candidates[0].score > 0.5
    scores = [c.score for c in response.candidates]
    assert scores == sorted(scores, reverse=True)
    assert len(response.candidates) <= 5

    claims = verify_with_served_keys(env, response.decision_receipt.jws)
    assert claims["decision"] == "allow"
    assert claims["sub"] == "sa.morgan" and claims["agency"] == "us-fbi"
    assert claims["op"] == "identify" and claims["purpose"] == "criminal_investigation"
    assert claims["log"]["seq"] == response.decision_receipt.log_seq
    assert len(claims["input_digest"]) == 64 and len(claims["policy_revision"]) == 64

    logged = entries(env.audit_dir)
    decision = logged[response.decision_receipt.log_seq]
    assert decision["kind"] == "decision"
    assert decision["body"]["receipt"] == response.decision_receipt.jws
    outcome = logged[response.outcome_log_seq]
    assert outcome["kind"] == "outcome"
    assert outcome["body"]["decision_seq"] == response.decision_receipt.log_seq
    assert len(outcome["body"]["released"]) == len(response.candidates)
    # Nothing readable of the records or the probe is in the log.
    text = (env.audit_dir).joinpath(next(p.name for p in env.audit_dir.glob("*.jsonl"))).read_text()
    assert response.candidates[0].record_id not in text
    assert f"{probe[0]:.6f}" not in text


def test_a_denial_carries_its_receipt_and_reasons_in_status_details_and_trailer(env):
    probe = env.gallery.probe("us-fbi", 12, "face")
    treaty = Justification("criminal_investigation", "treaty_request", "PCSC-1", "PDI-1")
    stub = broker_pb2_grpc.BiometricBrokerStub(grpc.insecure_channel(env.broker.address))
    request = broker_pb2.IdentifyRequest(
        justification=treaty.to_proto(),
        modality=broker_pb2.MODALITY_FACE,
        probe=probe.tolist(),
        max_results=5,
    )
    with pytest.raises(grpc.RpcError) as info:
        stub.Identify(
            request, metadata=(("authorization", f"Bearer {env.token('pdi-detective')}"),)
        )
    error = info.value
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    trailer = dict(error.trailing_metadata())["decision-receipt"]
    claims = verify_with_served_keys(env, trailer)
    assert claims["decision"] == "deny" and claims["agency"] == "cl-pdi"
    assert claims["reasons"], "a denial says why"

    with pytest.raises(DeniedError) as denied:
        env.client("pdi-detective").identify(treaty, "face", probe)
    assert denied.value.details.receipt.jws.count(".") == 2
    assert denied.value.reasons
    logged = entries(env.audit_dir)[denied.value.details.receipt.log_seq]
    assert receipt_claims(logged["body"]["receipt"])["decision"] == "deny"


def test_sanctuary_records_never_reach_immigration_enforcement_even_through_the_fusion_centre(env):
    hsi = env.client("hsi-officer")
    fbi = env.client("fbi-investigator")
    for person in (0, 12):  # a copy that kept its origin, and one relabelled "US-OR"
        probe = env.gallery.probe("riverton-pd", person, "face")
        criminal = fbi.identify(WARRANT, "face", probe, max_results=10)
        criminal_ids = [c.record_id for c in criminal.candidates]
        assert any(i.startswith(f"or-fusion:copy-of-riverton-p{person:03d}") for i in criminal_ids)

        immigration = hsi.identify(ADMIN_WARRANT, "face", probe, max_results=10)
        leaked = [
            c.record_id
            for c in immigration.candidates
            if c.record_id.startswith(("riverton-pd:", "or-fusion:copy-of-riverton-"))
        ]
        assert leaked == []
        excluded = receipt_claims(immigration.decision_receipt.jws)["obligations"][
            "exclude_origins"
        ]
        assert "US-OR-RIVERTON" in excluded, "the sanctuary partition is not even searched"
        if person == 12:
            # The relabelled copies sit in the US-OR partition, which is searched: the release
            # rule withholds them by their lineage.
            assert immigration.withheld >= 2


def test_max_results_is_capped_by_the_agreement_and_human_review_is_flagged(env):
    treaty = Justification("criminal_investigation", "treaty_request", "PCSC-2", "PDI-2")
    probe = env.gallery.probe("us-fbi", 11, "fingerprint")
    response = env.client("pdi-detective").identify(treaty, "fingerprint", probe, max_results=50)
    assert response.candidates[0].record_id.startswith("us-fbi:p011:fingerprint:")
    assert len(response.candidates) <= 5
    assert response.human_review_required
    claims = receipt_claims(response.decision_receipt.jws)
    assert claims["obligations"]["max_results"] <= 5


def test_unauthenticated_calls_get_no_receipt_and_leave_no_entry(env):
    before = len(entries(env.audit_dir))
    stub = broker_pb2_grpc.BiometricBrokerStub(grpc.insecure_channel(env.broker.address))
    request = broker_pb2.IdentifyRequest(
        justification=WARRANT.to_proto(),
        modality=broker_pb2.MODALITY_FACE,
        probe=np.ones(512).tolist(),
        max_results=5,
    )
    for metadata in (
        (),
        (("authorization", "Bearer not-a-token"),),
        (("authorization", "Basic x"),),
    ):
        with pytest.raises(grpc.RpcError) as info:
            stub.Identify(request, metadata=metadata)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "decision-receipt" not in dict(info.value.trailing_metadata() or ())
    assert len(entries(env.audit_dir)) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"probe": [1.0, 2.0]}, "probe"),
        ({"probe": [float("nan")] * 512}, "probe"),
        ({"modality": broker_pb2.MODALITY_UNSPECIFIED}, "modality"),
        ({"max_results": 0}, "max_results"),
    ],
)
def test_malformed_requests_are_invalid_argument_naming_the_field(env, change, field):
    before = len(entries(env.audit_dir))
    stub = broker_pb2_grpc.BiometricBrokerStub(grpc.insecure_channel(env.broker.address))
    fields = {
        "justification": WARRANT.to_proto(),
        "modality": broker_pb2.MODALITY_FACE,
        "probe": np.ones(512).tolist(),
        "max_results": 5,
        **change,
    }
    with pytest.raises(grpc.RpcError) as info:
        stub.Identify(
            broker_pb2.IdentifyRequest(**fields),
            metadata=(("authorization", f"Bearer {env.token('fbi-investigator')}"),),
        )
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(field)
    assert len(entries(env.audit_dir)) == before
