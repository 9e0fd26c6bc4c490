"""The records that travel through the broker's core.

Generated protobuf classes stay at the gRPC edge (broker/server.py); everything inside the
pipeline speaks these frozen dataclasses, which check their invariants when built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from broker.rfc3339 import format_utc

JSON = dict[str, Any]


class Operation(StrEnum):
    IDENTIFY = "identify"
    VERIFY = "verify"
    ENROLL = "enroll"
    EXPUNGE = "expunge"


class Modality(StrEnum):
    FACE = "face"
    FINGERPRINT = "fingerprint"

    @property
    def dimension(self) -> int:
        return TEMPLATE_DIMENSIONS[self]


TEMPLATE_DIMENSIONS: dict[Modality, int] = {Modality.FACE: 512, Modality.FINGERPRINT: 192}


@dataclass(frozen=True)
class Principal:
    """The verified caller. Built only from verified JWT claims."""

    agency: str
    officer: str
    roles: tuple[str, ...]
    country: str
    jurisdiction: str

    def to_policy(self) -> JSON:
        return {
            "agency": self.agency,
            "officer": self.officer,
            "roles": list(self.roles),
            "country": self.country,
            "jurisdiction": self.jurisdiction,
        }


@dataclass(frozen=True)
class LegalBasis:
    type: str
    reference: str


@dataclass(frozen=True)
class Justification:
    purpose: str
    legal_basis: LegalBasis
    case_id: str
    # The offence under investigation (a code of the policy's offences catalogue); "" when
    # the purpose concerns none. Agreements with an offence floor need it.
    offence: str = ""


@dataclass(frozen=True)
class Provenance:
    """Where a record came from; restrictions travel with it."""

    origin_jurisdiction: str
    source_agency: str
    lineage: tuple[str, ...]
    consent_scopes: tuple[str, ...]
    captured_at: datetime
    retain_until: datetime
    consent_withdrawn_at: datetime | None = None

    def to_policy(self) -> JSON:
        doc: JSON = {
            "origin_jurisdiction": self.origin_jurisdiction,
            "source_agency": self.source_agency,
            "lineage": list(self.lineage),
            "consent_scopes": list(self.consent_scopes),
            "captured_at": format_utc(self.captured_at),
            "retain_until": format_utc(self.retain_until),
        }
        if self.consent_withdrawn_at is not None:
            doc["consent_withdrawn_at"] = format_utc(self.consent_withdrawn_at)
        return doc


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def to_json(self) -> JSON:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class RateLimit:
    """Request rates an allow decision sets; None means no limit of that kind."""

    per_officer_per_minute: int | None = None
    per_case_per_hour: int | None = None

    def to_json(self) -> JSON:
        doc: JSON = {}
        if self.per_officer_per_minute is not None:
            doc["per_officer_per_minute"] = self.per_officer_per_minute
        if self.per_case_per_hour is not None:
            doc["per_case_per_hour"] = self.per_case_per_hour
        return doc


@dataclass(frozen=True)
class Obligations:
    """What an allow decision obliges the broker to do. Every field is understood here;
    a decision carrying any other obligation is refused (see broker/policy/decision.py)."""

    max_results: int | None = None
    min_score: float | None = None
    exclude_origins: tuple[str, ...] = ()
    required_consent_scope: str | None = None
    not_captured_before: datetime | None = None
    human_review_required: bool = False
    rate_limit: RateLimit | None = None
    # Results shared under an agreement must be deleted by then (the strictest agreement's
    # retention of shared results).
    results_retain_until: datetime | None = None

    def to_json(self) -> JSON:
        doc: JSON = {
            "exclude_origins": list(self.exclude_origins),
            "human_review_required": self.human_review_required,
        }
        if self.max_results is not None:
            doc["max_results"] = self.max_results
        if self.min_score is not None:
            doc["min_score"] = self.min_score
        if self.required_consent_scope is not None:
            doc["required_consent_scope"] = self.required_consent_scope
        if self.not_captured_before is not None:
            doc["not_captured_before"] = format_utc(self.not_captured_before)
        if self.rate_limit is not None:
            doc["rate_limit"] = self.rate_limit.to_json()
        if self.results_retain_until is not None:
            doc["results_retain_until"] = format_utc(self.results_retain_until)
        return doc


@dataclass(frozen=True)
class Decision:
    allow: bool
    reasons: tuple[Reason, ...] = ()
    obligations: Obligations = field(default_factory=Obligations)

    @classmethod
    def deny(cls, code: str, message: str) -> Decision:
        """A denial the broker makes itself, when the policy could not decide."""
        return cls(allow=False, reasons=(Reason(code, message),))


@dataclass(frozen=True)
class Candidate:
    """A matcher result before release: score and provenance, never the template."""

    record_id: str
    score: float
    provenance: Provenance

    def to_policy(self) -> JSON:
        return {
            "record_id": self.record_id,
            "score": self.score,
            "provenance": self.provenance.to_policy(),
        }


@dataclass(frozen=True)
class Withheld:
    record_id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Release:
    """The release rule's verdict over a candidate list."""

    released: tuple[str, ...]
    withheld: tuple[Withheld, ...]
