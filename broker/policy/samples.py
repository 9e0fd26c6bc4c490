"""Sample inputs built from a bundle's own data, to check that its answers have the
documented shape (`broker policy check`, and the broker before it loads a bundle).

For every purpose, each of its operations, each modality and each agency, one request as
the broker would build it, with every partition the jurisdictions imply; then requests
that must be denied (an empty input, an unknown agency, purpose or operation, no legal
basis, a protected filter). For allowed searches, release inputs with one candidate per
jurisdiction. The samples only need to be plausible: what is checked is the shape of the
answer, not whether it allows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from broker.models import JSON
from broker.rfc3339 import format_utc, parse

MODALITIES = ("face", "fingerprint")
OPERATIONS = ("identify", "verify", "enroll", "expunge")
SEARCHES = frozenset({"identify", "verify"})
# Enough allowed searches to exercise the release rule on every purpose, few enough to
# keep a reload quick.
MAX_RELEASE_SAMPLES = 24


@dataclass(frozen=True)
class Sample:
    name: str
    input: JSON

    @property
    def operation(self) -> str | None:
        request = self.input.get("request")
        operation = request.get("operation") if isinstance(request, dict) else None
        return operation if isinstance(operation, str) else None


def decision_samples(data: Mapping[str, Any], now: datetime) -> list[Sample]:
    """Requests for data.broker.decision, from the bundle's purposes and agencies."""
    return [*_permitted_shapes(data, now), *_denials(data, now)]


def release_sample(decision_sample: Sample, obligations: JSON, data: Mapping[str, Any]) -> Sample:
    """The release input the broker would send after `decision_sample` was allowed with
    `obligations`: one candidate per known jurisdiction, at the score floor."""
    doc = decision_sample.input
    now = _now_of(doc)
    floor = obligations.get("min_score", 0.0)
    candidates = [
        {
            "record_id": f"sample-{origin}",
            "score": floor if isinstance(floor, int | float) else 0.0,
            "provenance": _provenance(origin, _agency_in(data, origin, doc), data, now),
        }
        for origin in sorted(_object(data, "jurisdictions"))
    ]
    return Sample(
        f"release after {decision_sample.name}",
        {
            "subject": doc["subject"],
            "request": doc["request"],
            "context": doc["context"],
            "obligations": obligations,
            "candidates": candidates,
        },
    )


# -- building ---------------------------------------------------------------------------


def _permitted_shapes(data: Mapping[str, Any], now: datetime) -> Iterator[Sample]:
    purposes = _object(data, "purposes")
    for agency_id, agency in sorted(_object(data, "agencies").items()):
        subject = _subject(agency_id, agency, purposes)
        for purpose_id, purpose in sorted(purposes.items()):
            operations = purpose.get("operations") if isinstance(purpose, dict) else None
            bases = purpose.get("legal_bases") if isinstance(purpose, dict) else None
            basis = bases[0] if isinstance(bases, list) and bases else "warrant"
            for operation in operations if isinstance(operations, list) else []:
                for modality in MODALITIES if operation in SEARCHES else MODALITIES[:1]:
                    yield Sample(
                        f"{agency_id} {operation} {modality} for {purpose_id}",
                        _input(
                            data,
                            now,
                            subject,
                            operation=operation,
                            purpose=purpose_id,
                            basis=str(basis),
                            modality=modality,
                        ),
                    )


def _denials(data: Mapping[str, Any], now: datetime) -> Iterator[Sample]:
    agencies = _object(data, "agencies")
    agency_id, agency = min(agencies.items()) if agencies else ("unknown", {})
    subject = _subject(agency_id, agency, _object(data, "purposes"))
    purpose = min(_object(data, "purposes"), default="unknown")
    base = _input(
        data,
        now,
        subject,
        operation="identify",
        purpose=purpose,
        basis="warrant",
        modality="face",
    )
    yield Sample("an empty input", {})
    yield Sample("an unknown agency", _merge(base, "subject", {"agency": "sample-unknown-agency"}))
    yield Sample("an unknown purpose", _merge(base, "request", {"purpose": "sample-unknown"}))
    yield Sample("an unknown operation", _merge(base, "request", {"operation": "browse"}))
    yield Sample(
        "no legal basis", _merge(base, "request", {"legal_basis": {"type": "", "reference": ""}})
    )
    yield Sample("a filter on race", _merge(base, "request", {"filters": {"race": "sample"}}))


def _input(
    data: Mapping[str, Any],
    now: datetime,
    subject: JSON,
    *,
    operation: str,
    purpose: str,
    basis: str,
    modality: str,
) -> JSON:
    request: JSON = {
        "operation": operation,
        "purpose": purpose,
        "legal_basis": {"type": basis, "reference": "SAMPLE-1"},
        "case_id": "sample-case",
        "target_origins": [],
        "filters": {},
        "modality": modality,
    }
    resource: JSON
    if operation == "identify":
        request["max_results"] = 10
        resource = {
            "partitions": [
                {"origin_jurisdiction": origin, "modality": modality}
                for origin in sorted(_object(data, "jurisdictions"))
            ]
        }
    elif operation == "enroll":
        provenance = _provenance(subject["jurisdiction"], subject["agency"], data, now)
        resource = {"record_id": "sample-record", "provenance": provenance}
    else:
        resource = {"record_id": "sample-record"}
    return {
        "subject": subject,
        "request": request,
        "resource": resource,
        "context": {"now": format_utc(now), "broker_id": "sample", "policy_revision": "sample"},
    }


def _subject(agency_id: str, agency: Any, purposes: Mapping[str, Any]) -> JSON:
    info = agency if isinstance(agency, dict) else {}
    roles = sorted(
        {
            role
            for purpose in purposes.values()
            if isinstance(purpose, dict) and isinstance(purpose.get("roles"), list)
            for role in purpose["roles"]
            if isinstance(role, str)
        }
    )
    return {
        "agency": agency_id,
        "officer": "sample-officer",
        "roles": roles,
        "country": str(info.get("country", "")),
        "jurisdiction": str(info.get("jurisdiction", "")),
    }


def _provenance(origin: str, agency: str, data: Mapping[str, Any], now: datetime) -> JSON:
    return {
        "origin_jurisdiction": origin,
        "source_agency": agency,
        "lineage": [agency],
        "consent_scopes": sorted(_object(data, "consent_scopes")),
        "captured_at": format_utc(now - timedelta(days=30)),
        "retain_until": format_utc(now + timedelta(days=365)),
    }


def _agency_in(data: Mapping[str, Any], jurisdiction: str, doc: JSON) -> str:
    for agency_id, agency in sorted(_object(data, "agencies").items()):
        if isinstance(agency, dict) and agency.get("jurisdiction") == jurisdiction:
            return agency_id
    return str(doc["subject"]["agency"])


def _merge(doc: JSON, section: str, changes: JSON) -> JSON:
    return {**doc, section: {**doc[section], **changes}}


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _now_of(doc: JSON) -> datetime:
    return parse(doc["context"]["now"])
