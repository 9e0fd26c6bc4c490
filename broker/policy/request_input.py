"""The policy input the broker would build for a request given as JSON, the way the gRPC
API takes it (`broker policy explain --request FILE`).

The file holds the JSON mapping of a biometric.broker.v1.IdentifyRequest (or, with
"operation": "verify", a VerifyRequest), plus what a token and the matcher would supply:

    {"subject": {"agency": "us-fbi", "officer": "sa.morgan", "roles": ["investigator"],
                 "country": "US", "jurisdiction": "US"},
     "now": "2026-06-01T12:00:00Z",                       # optional: default, the clock
     "partitions": ["US", "US-OR"],                       # optional: default, every
                                                          # jurisdiction of the bundle
     "justification": {"purpose": "criminal_investigation",
                       "legalBasis": {"type": "warrant", "reference": "W-1"},
                       "caseId": "C-1", "offence": "armed_robbery"},
     "modality": "MODALITY_FACE", "maxResults": 10, "filters": {}}

The request goes through the broker's own parser (broker/requests.py), so what fails here
fails at the API, naming the same field. The probe may be left out: the policy sees only
its digest, so a placeholder stands in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from biometric.broker.v1 import broker_pb2
from google.protobuf import json_format

from broker.errors import InvalidRequestError
from broker.models import JSON, TEMPLATE_DIMENSIONS, Modality, Principal
from broker.policy_input import PolicyContext, identify_input, verify_input
from broker.requests import parse_identify, parse_verify
from broker.rfc3339 import parse as parse_rfc3339

EXPLAIN_BROKER_ID = "policy-explain"
EXTRA_KEYS = frozenset({"subject", "now", "partitions", "operation"})
SUBJECT_TEXT = ("agency", "officer", "country", "jurisdiction")
_MODALITY_NAMES = {"MODALITY_FACE": Modality.FACE, "MODALITY_FINGERPRINT": Modality.FINGERPRINT}


def request_to_input(
    document: Any, *, jurisdictions: Mapping[str, Any], revision: str
) -> tuple[JSON, bool]:
    """The policy input, and whether a placeholder probe stood in for a missing one.

    Raises InvalidRequestError naming the offending field."""
    if not isinstance(document, dict):
        raise InvalidRequestError("(request)", "expected a JSON object")
    operation = document.get("operation", "identify")
    if operation not in {"identify", "verify"}:
        raise InvalidRequestError("operation", "must be identify or verify")
    subject = _principal(document.get("subject"))
    now = _now(document.get("now"))
    wire = {k: v for k, v in document.items() if k not in EXTRA_KEYS}
    placeholder = "probe" not in wire
    if placeholder:
        wire["probe"] = _placeholder_probe(wire.get("modality"))
    context = PolicyContext(now=now, broker_id=EXPLAIN_BROKER_ID, policy_revision=revision)
    if operation == "verify":
        verify = parse_verify(_message(wire, broker_pb2.VerifyRequest()))
        return verify_input(subject, verify, context), placeholder
    query = parse_identify(_message(wire, broker_pb2.IdentifyRequest()))
    origins = _partitions(document.get("partitions"), jurisdictions)
    return identify_input(subject, query, origins, context), placeholder


def _message(wire: JSON, message: Any) -> Any:
    try:
        json_format.ParseDict(wire, message)
    except json_format.ParseError as e:
        raise InvalidRequestError("(request)", str(e)) from e
    return message


def _principal(value: Any) -> Principal:
    if not isinstance(value, dict):
        raise InvalidRequestError("subject", "required: the verified token's claims")
    for name in SUBJECT_TEXT:
        if not isinstance(value.get(name), str) or not value[name]:
            raise InvalidRequestError(f"subject.{name}", "required, a non-empty string")
    roles = value.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidRequestError("subject.roles", "expected a list of strings")
    unknown = set(value) - {*SUBJECT_TEXT, "roles"}
    if unknown:
        raise InvalidRequestError("subject", f"unknown keys {sorted(unknown)}")
    return Principal(
        agency=value["agency"],
        officer=value["officer"],
        roles=tuple(roles),
        country=value["country"],
        jurisdiction=value["jurisdiction"],
    )


def _now(value: Any) -> datetime:
    if value is None:
        return datetime.now(UTC).replace(microsecond=0)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return parse_rfc3339(value).astimezone(UTC).replace(microsecond=0)
    except ValueError as e:
        raise InvalidRequestError("now", "expected an RFC 3339 date-time") from e


def _partitions(value: Any, jurisdictions: Mapping[str, Any]) -> list[str]:
    if value is None:
        return sorted(jurisdictions)
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidRequestError("partitions", "expected a list of origin jurisdictions")
    return list(value)


def _placeholder_probe(modality: Any) -> list[float]:
    chosen = _MODALITY_NAMES.get(modality) if isinstance(modality, str) else None
    if chosen is None and isinstance(modality, int):
        chosen = {1: Modality.FACE, 2: Modality.FINGERPRINT}.get(modality)
    dimension = TEMPLATE_DIMENSIONS.get(chosen) if chosen is not None else None
    return [1.0] + [0.0] * ((dimension or 1) - 1)
