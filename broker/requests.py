"""Requests as the pipeline sees them, parsed and bounded at the gRPC edge.

Every limit here is a named constant; a violation is an InvalidRequestError naming the field,
raised before the policy sees the request, so nothing is decided or logged for it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from biometric.broker.v1 import broker_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from broker.errors import InvalidRequestError
from broker.models import Justification, LegalBasis, Modality, Provenance

MAX_RESULTS_LIMIT = 100  # a candidate list longer than this is never needed for review
MAX_TEXT = 128  # identifiers and codes
MAX_REFERENCE = 256  # legal basis references (warrant numbers, treaty request ids)
MAX_LIST = 32  # target origins, lineage, consent scopes
MAX_FILTERS = 8
RECORD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
FLOAT32_MAX = float(np.finfo(np.float32).max)
# google.protobuf.Timestamp's documented range: 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MAX_NANOS = 999_999_999

_MODALITIES: dict[int, Modality] = {
    broker_pb2.MODALITY_FACE: Modality.FACE,
    broker_pb2.MODALITY_FINGERPRINT: Modality.FINGERPRINT,
}


@dataclass(frozen=True)
class IdentifyQuery:
    justification: Justification
    modality: Modality
    probe: np.ndarray
    max_results: int
    target_origins: tuple[str, ...]
    filters: Mapping[str, str]


@dataclass(frozen=True)
class VerifyQuery:
    justification: Justification
    record_id: str
    modality: Modality
    probe: np.ndarray


@dataclass(frozen=True)
class EnrollCommand:
    justification: Justification
    record_id: str
    modality: Modality
    template: np.ndarray
    provenance: Provenance


@dataclass(frozen=True)
class ExpungeCommand:
    justification: Justification
    record_id: str


def template_digest(vector: np.ndarray) -> str:
    """SHA-256 of the float32 little-endian bytes: what the log and policy see of a template."""
    return hashlib.sha256(vector.astype("<f4").tobytes()).hexdigest()


def parse_identify(msg: broker_pb2.IdentifyRequest) -> IdentifyQuery:
    modality = _modality(msg.modality, "modality")
    if not 1 <= msg.max_results <= MAX_RESULTS_LIMIT:
        raise InvalidRequestError("max_results", f"must be between 1 and {MAX_RESULTS_LIMIT}")
    origins = _texts(msg.target_origins, "target_origins")
    if len(msg.filters) > MAX_FILTERS:
        raise InvalidRequestError("filters", f"at most {MAX_FILTERS} filters")
    filters = {}
    for key, value in sorted(msg.filters.items()):
        _text(key, f"filters[{key[:32]!r}]", MAX_TEXT)
        filters[key] = _text(value, f"filters[{key!r}]", MAX_REFERENCE)
    return IdentifyQuery(
        justification=_justification(msg.justification, msg.HasField("justification")),
        modality=modality,
        probe=_vector(msg.probe, modality, "probe"),
        max_results=msg.max_results,
        target_origins=origins,
        filters=filters,
    )


def parse_verify(msg: broker_pb2.VerifyRequest) -> VerifyQuery:
    modality = _modality(msg.modality, "modality")
    return VerifyQuery(
        justification=_justification(msg.justification, msg.HasField("justification")),
        record_id=_record_id(msg.record_id),
        modality=modality,
        probe=_vector(msg.probe, modality, "probe"),
    )


def parse_enroll(msg: broker_pb2.EnrollRequest) -> EnrollCommand:
    modality = _modality(msg.modality, "modality")
    if not msg.HasField("provenance"):
        raise InvalidRequestError("provenance", "is required")
    p = msg.provenance
    for name in ("captured_at", "retain_until"):
        if not p.HasField(name):
            raise InvalidRequestError(f"provenance.{name}", "is required")
    captured_at = _timestamp(p.captured_at, "provenance.captured_at")
    retain_until = _timestamp(p.retain_until, "provenance.retain_until")
    if retain_until <= captured_at:
        raise InvalidRequestError("provenance.retain_until", "must be after captured_at")
    withdrawn = (
        _timestamp(p.consent_withdrawn_at, "provenance.consent_withdrawn_at")
        if p.HasField("consent_withdrawn_at")
        else None
    )
    provenance = Provenance(
        origin_jurisdiction=_text(p.origin_jurisdiction, "provenance.origin_jurisdiction"),
        source_agency=_text(p.source_agency, "provenance.source_agency"),
        lineage=_texts(p.lineage, "provenance.lineage"),
        consent_scopes=_texts(p.consent_scopes, "provenance.consent_scopes"),
        captured_at=captured_at,
        retain_until=retain_until,
        consent_withdrawn_at=withdrawn,
    )
    return EnrollCommand(
        justification=_justification(msg.justification, msg.HasField("justification")),
        record_id=_record_id(msg.record_id),
        modality=modality,
        template=_vector(msg.template, modality, "template"),
        provenance=provenance,
    )


def parse_expunge(msg: broker_pb2.ExpungeRequest) -> ExpungeCommand:
    return ExpungeCommand(
        justification=_justification(msg.justification, msg.HasField("justification")),
        record_id=_record_id(msg.record_id),
    )


def _justification(msg: broker_pb2.Justification, present: bool) -> Justification:
    if not present:
        raise InvalidRequestError("justification", "is required")
    if not msg.HasField("legal_basis"):
        # An absent legal basis is a policy matter (it is denied, and the denial is logged),
        # so it reaches the policy as empty strings rather than failing here.
        basis = LegalBasis(type="", reference="")
    else:
        basis = LegalBasis(
            type=_text(msg.legal_basis.type, "justification.legal_basis.type", allow_empty=True),
            reference=_text(
                msg.legal_basis.reference,
                "justification.legal_basis.reference",
                MAX_REFERENCE,
                allow_empty=True,
            ),
        )
    return Justification(
        purpose=_text(msg.purpose, "justification.purpose"),
        legal_basis=basis,
        case_id=_text(msg.case_id, "justification.case_id"),
        offence=_text(msg.offence, "justification.offence", allow_empty=True),
    )


def _modality(value: int, field: str) -> Modality:
    try:
        return _MODALITIES[value]
    except KeyError:
        raise InvalidRequestError(field, f"must be FACE or FINGERPRINT, got {value}") from None


def _vector(values: Sequence[float], modality: Modality, field: str) -> np.ndarray:
    if len(values) != modality.dimension:
        raise InvalidRequestError(
            field, f"expected {modality.dimension} values for {modality}, got {len(values)}"
        )
    # float64 first: a float32 square of a large value overflows and would pass for zero or
    # infinity; the values themselves must fit float32, which is what the matcher stores.
    vector = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(vector)):
        raise InvalidRequestError(field, "contains NaN or infinite values")
    if np.any(np.abs(vector) > FLOAT32_MAX):
        raise InvalidRequestError(field, "contains values beyond the float32 range")
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise InvalidRequestError(field, "must not be the zero vector")
    unit = (vector / norm).astype(np.float32)
    if not np.any(unit):
        raise InvalidRequestError(field, "is too close to the zero vector to normalise")
    return unit


def _timestamp(value: Timestamp, field: str) -> datetime:
    """A protobuf Timestamp within its documented range (years 1..9999, nanos < 1e9)."""
    if not MIN_TIMESTAMP_SECONDS <= value.seconds <= MAX_TIMESTAMP_SECONDS:
        raise InvalidRequestError(field, "outside 0001-01-01..9999-12-31")
    if not 0 <= value.nanos <= MAX_NANOS:
        raise InvalidRequestError(field, "nanos must be within 0..999999999")
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as e:
        raise InvalidRequestError(field, "not a valid timestamp") from e


def _record_id(value: str) -> str:
    if not RECORD_ID.fullmatch(value):
        raise InvalidRequestError("record_id", "must be 1-128 characters of [A-Za-z0-9._:-]")
    return value


def _text(value: str, field: str, limit: int = MAX_TEXT, *, allow_empty: bool = False) -> str:
    if not value and not allow_empty:
        raise InvalidRequestError(field, "is required")
    if len(value) > limit:
        raise InvalidRequestError(field, f"longer than {limit} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidRequestError(field, "contains control characters")
    return value


def _texts(values: Sequence[str], field: str) -> tuple[str, ...]:
    if len(values) > MAX_LIST:
        raise InvalidRequestError(field, f"at most {MAX_LIST} entries")
    return tuple(_text(v, f"{field}[{i}]") for i, v in enumerate(values))
