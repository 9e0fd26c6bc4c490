"""Builds the policy input document (DESIGN.md, "Policy contract").

Only the broker builds it, from verified claims and validated requests. Templates never
appear in it: only their SHA-256 digests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from broker.models import JSON, Justification, Modality, Operation, Principal
from broker.requests import IdentifyQuery, VerifyQuery, template_digest
from broker.rfc3339 import format_utc


@dataclass(frozen=True)
class PolicyContext:
    now: datetime
    broker_id: str
    policy_revision: str

    def to_policy(self) -> JSON:
        return {
            "now": format_utc(self.now),
            "broker_id": self.broker_id,
            "policy_revision": self.policy_revision,
        }


def build_input(
    principal: Principal,
    operation: Operation,
    justification: Justification,
    *,
    modality: Modality | None,
    resource: JSON,
    context: PolicyContext,
    template_digest: str | None = None,
    max_results: int | None = None,
    target_origins: tuple[str, ...] = (),
    filters: dict[str, str] | None = None,
) -> JSON:
    request: JSON = {
        "operation": str(operation),
        "purpose": justification.purpose,
        "legal_basis": {
            "type": justification.legal_basis.type,
            "reference": justification.legal_basis.reference,
        },
        "case_id": justification.case_id,
        "target_origins": list(target_origins),
        "filters": dict(filters or {}),
    }
    if justification.offence:
        request["offence"] = justification.offence
    if modality is not None:
        request["modality"] = str(modality)
    if max_results is not None:
        request["max_results"] = max_results
    if template_digest is not None:
        request["template_digest"] = template_digest
    return {
        "subject": principal.to_policy(),
        "request": request,
        "resource": resource,
        "context": context.to_policy(),
    }


def identify_input(
    principal: Principal, query: IdentifyQuery, origins: Sequence[str], context: PolicyContext
) -> JSON:
    """The input of an Identify: its resource is the partitions of the probe's modality."""
    return build_input(
        principal,
        Operation.IDENTIFY,
        query.justification,
        modality=query.modality,
        resource={
            "partitions": [
                {"origin_jurisdiction": o, "modality": str(query.modality)} for o in origins
            ]
        },
        context=context,
        template_digest=template_digest(query.probe),
        max_results=query.max_results,
        target_origins=query.target_origins,
        filters=dict(query.filters),
    )


def verify_input(principal: Principal, query: VerifyQuery, context: PolicyContext) -> JSON:
    """The input of a Verify: only the record id; its provenance is judged at release."""
    return build_input(
        principal,
        Operation.VERIFY,
        query.justification,
        modality=query.modality,
        resource={"record_id": query.record_id},
        context=context,
        template_digest=template_digest(query.probe),
    )
