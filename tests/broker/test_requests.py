"""Parsing and bounding requests at the gRPC edge: every violation names its field."""

import math

import numpy as np
import pytest
from biometric.broker.v1 import broker_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from broker.errors import InvalidRequestError
from broker.models import Modality
from broker.requests import (
    parse_enroll,
    parse_expunge,
    parse_identify,
    parse_verify,
    template_digest,
)


def justification(**changes: object) -> broker_pb2.Justification:
    fields = {
        "purpose": "criminal_investigation",
        "legal_basis": broker_pb2.LegalBasis(type="warrant", reference="W-1"),
        "case_id": "C-1",
    }
    fields.update(changes)
    return broker_pb2.Justification(**fields)


def identify(**changes: object) -> broker_pb2.IdentifyRequest:
    fields = {
        "justification": justification(),
        "modality": broker_pb2.MODALITY_FACE,
        "probe": [1.0] * 512,
        "max_results": 10,
    }
    fields.update(changes)
    return broker_pb2.IdentifyRequest(**fields)


def test_a_valid_identify_is_parsed_and_its_probe_normalised():
    query = parse_identify(identify(filters={"source_agency": "us-fbi"}))
    assert query.modality is Modality.FACE
    assert math.isclose(float(np.linalg.norm(query.probe)), 1.0, rel_tol=1e-6)
    assert query.filters == {"source_agency": "us-fbi"}
    assert query.justification.legal_basis.reference == "W-1"


BAD_IDENTIFY = [
    ({"modality": broker_pb2.MODALITY_UNSPECIFIED}, "modality"),
    ({"modality": 7}, "modality"),
    ({"probe": [1.0] * 3}, "probe: expected 512 values for face, got 3"),
    ({"probe": [1.0] * 192}, "probe: expected 512"),
    ({"probe": [float("nan")] + [1.0] * 511}, "probe: contains NaN"),
    ({"probe": [float("inf")] + [1.0] * 511}, "probe: contains NaN or infinite"),
    ({"probe": [0.0] * 512}, "probe: must not be the zero vector"),
    ({"max_results": 0}, "max_results"),
    ({"max_results": 101}, "max_results"),
    ({"justification": None}, "justification: is required"),
    ({"justification": justification(purpose="")}, "justification.purpose: is required"),
    ({"justification": justification(case_id="x" * 129)}, "justification.case_id: longer"),
    ({"justification": justification(purpose="a\nb")}, "justification.purpose: contains control"),
    ({"target_origins": ["US"] * 33}, "target_origins: at most 32"),
    ({"filters": {f"k{i}": "v" for i in range(9)}}, "filters: at most 8"),
    ({"filters": {"source_agency": "x" * 300}}, "filters['source_agency']: longer"),
]


@pytest.mark.parametrize(("changes", "message"), BAD_IDENTIFY)
def test_bad_identify_requests_name_the_field(changes, message):
    fields = {k: v for k, v in changes.items() if v is not None}
    request = identify(**fields)
    if changes.get("justification", 0) is None:
        request.ClearField("justification")
    with pytest.raises(InvalidRequestError) as info:
        parse_identify(request)
    assert str(info.value).startswith(message)


def test_a_missing_legal_basis_reaches_the_policy_as_empty_so_its_denial_is_logged():
    request = identify(justification=broker_pb2.Justification(purpose="p", case_id="c"))
    query = parse_identify(request)
    assert (query.justification.legal_basis.type, query.justification.legal_basis.reference) == (
        "",
        "",
    )


@pytest.mark.parametrize("record_id", ["", "a b", "x" * 129, "../etc/passwd", "é"])
def test_record_ids_are_bounded(record_id):
    with pytest.raises(InvalidRequestError, match=r"^record_id"):
        parse_expunge(broker_pb2.ExpungeRequest(justification=justification(), record_id=record_id))
    with pytest.raises(InvalidRequestError, match=r"^record_id"):
        parse_verify(
            broker_pb2.VerifyRequest(
                justification=justification(),
                record_id=record_id,
                modality=broker_pb2.MODALITY_FINGERPRINT,
                probe=[1.0] * 192,
            )
        )


def ts(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


def enroll(**provenance: object) -> broker_pb2.EnrollRequest:
    fields = {
        "origin_jurisdiction": "US",
        "source_agency": "us-fbi",
        "lineage": ["us-fbi"],
        "consent_scopes": ["criminal_investigation"],
        "captured_at": ts(1_700_000_000),
        "retain_until": ts(1_900_000_000),
    }
    fields.update(provenance)
    return broker_pb2.EnrollRequest(
        justification=justification(purpose="enrolment"),
        record_id="us-fbi:1",
        modality=broker_pb2.MODALITY_FINGERPRINT,
        template=[0.5] * 192,
        provenance=broker_pb2.Provenance(**{k: v for k, v in fields.items() if v is not None}),
    )


def test_enroll_parses_provenance_into_aware_datetimes():
    command = parse_enroll(enroll())
    assert command.provenance.captured_at.tzinfo is not None
    assert command.provenance.to_policy()["captured_at"] == "2023-11-14T22:13:20Z"


@pytest.mark.parametrize(
    ("provenance", "field"),
    [
        ({"captured_at": None}, "provenance.captured_at"),
        ({"retain_until": ts(1_600_000_000)}, "provenance.retain_until"),
        ({"origin_jurisdiction": ""}, "provenance.origin_jurisdiction"),
        ({"lineage": ["ok", ""]}, "provenance.lineage[1]"),
    ],
)
def test_bad_provenance_names_the_field(provenance, field):
    with pytest.raises(InvalidRequestError, match=rf"^{field.replace('[', '.').replace(']', '.')}"):
        parse_enroll(enroll(**provenance))


def test_template_digest_depends_on_every_value():
    a = np.ones(192, dtype=np.float32)
    b = a.copy()
    b[191] = 0.5
    assert template_digest(a) != template_digest(b)
    assert len(template_digest(a)) == 64
