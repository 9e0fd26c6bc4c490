"""The scenario's subjects, records and requests, built with the broker's own models and in
the shape the broker sends them (DESIGN.md, "Policy contract")."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.models import Candidate, Principal, Provenance
from broker.rfc3339 import format_utc

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
ORIGINS = ("US", "US-OR", "US-OR-RIVERTON", "US-WA", "CL")

FBI_INVESTIGATOR = Principal("us-fbi", "sa.morgan", ("investigator",), "US", "US")
HSI_OFFICER = Principal("us-hsi", "hsi.reyes", ("immigration_officer",), "US", "US")
PDI_INVESTIGATOR = Principal("cl-pdi", "det.soto", ("investigator",), "CL", "CL")

ALL_SCOPES = ("criminal_investigation", "immigration_enforcement", "missing_person")


def record(
    origin: str,
    lineage: tuple[str, ...],
    *,
    captured_at: datetime = datetime(2024, 1, 10, 9, tzinfo=UTC),
    retain_until: datetime = datetime(2034, 1, 10, 9, tzinfo=UTC),
    consent_scopes: tuple[str, ...] = ALL_SCOPES,
    consent_withdrawn_at: datetime | None = None,
) -> Provenance:
    """Provenance of a record enrolled by the last agency of its lineage."""
    return Provenance(
        origin_jurisdiction=origin,
        source_agency=lineage[-1],
        lineage=lineage,
        consent_scopes=consent_scopes,
        captured_at=captured_at,
        retain_until=retain_until,
        consent_withdrawn_at=consent_withdrawn_at,
    )


def identify_input(
    subject: Principal,
    purpose: str,
    basis: str,
    modality: str,
    *,
    max_results: int = 10,
    target_origins: tuple[str, ...] = (),
    filters: dict[str, str] | None = None,
    offence: str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "subject": subject.to_policy(),
        "request": {
            "operation": "identify",
            "purpose": purpose,
            "legal_basis": {"type": basis, "reference": "REF-2026-001"},
            "case_id": "case-42",
            "modality": modality,
            "max_results": max_results,
            "target_origins": list(target_origins),
            "filters": dict(filters or {}),
        },
        "resource": {
            "partitions": [
                {"origin_jurisdiction": origin, "modality": m}
                for origin in ORIGINS
                for m in ("face", "fingerprint")
            ]
        },
        "context": {"now": format_utc(NOW), "broker_id": "broker-test", "policy_revision": "r"},
    }
    if offence is not None:
        doc["request"]["offence"] = offence
    return doc


def release_input(
    decision_input: dict[str, Any], obligations: dict[str, Any], candidates: list[Candidate]
) -> dict[str, Any]:
    """What the pipeline sends after an allow: the decision's obligations and the candidates."""
    return {
        "subject": decision_input["subject"],
        "request": decision_input["request"],
        "context": decision_input["context"],
        "obligations": obligations,
        "candidates": [c.to_policy() for c in candidates],
    }


# A rule that takes minutes (measured: 9 million iterations take about 30 s) and little
# memory, entered only for case "loop".
SLOW_MODULE = """package broker.slow

loops if {
	input.request.case_id == "loop"
	every i in numbers.range(1, 20000) {
		every j in numbers.range(1, 20000) {
			i + j > 0
		}
	}
}
"""


def slow_bundle(directory: Path) -> Path:
    """The shipped library, denying whatever `loops` (after looping for minutes)."""
    (directory / "slow.rego").write_text(SLOW_MODULE)
    decision = directory / "decision.rego"
    source = decision.read_text()
    marker = "allow if {\n\tagencies.subject_verified"
    assert marker in source
    decision.write_text(
        source.replace(
            marker, "allow if {\n\tnot data.broker.slow.loops\n\tagencies.subject_verified"
        )
    )
    return directory


def loop_input() -> dict[str, Any]:
    policy_input = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    policy_input["request"]["case_id"] = "loop"
    return policy_input
