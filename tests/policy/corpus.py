"""One corpus of inputs for every backend: the decisions and releases each must answer alike.

The check's samples (every purpose, operation, modality and agency of the shipped data),
the scenario's hand-made requests (agreements, the sanctuary city, offences, protected
attributes, malformed fields), the examples shipped in policies/examples, and, for each
allowed search, a release over candidates that each exercise one release rule.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from broker.models import Candidate
from broker.policy.bundle import PolicyBundle
from broker.policy.samples import decision_samples
from tests.policy.scenario import (
    FBI_INVESTIGATOR,
    HSI_OFFICER,
    NOW,
    PDI_INVESTIGATOR,
    POLICIES_DIR,
    identify_input,
    record,
    release_input,
)


def decision_inputs(bundle: PolicyBundle) -> list[tuple[str, dict[str, Any]]]:
    cases = [(s.name, s.input) for s in decision_samples(bundle.data, NOW)]
    fbi = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    cases += [
        ("fbi face", fbi),
        (
            "fbi felony face",
            identify_input(
                FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", offence="homicide"
            ),
        ),
        (
            "fbi misdemeanour face",
            identify_input(
                FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", offence="trespass"
            ),
        ),
        (
            "fbi unknown offence",
            identify_input(
                FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", offence="x"
            ),
        ),
        (
            "fbi fingerprint",
            identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "fingerprint"),
        ),
        ("hsi face", identify_input(HSI_OFFICER, "immigration_enforcement", "warrant", "face")),
        (
            "hsi riverton only",
            identify_input(
                HSI_OFFICER,
                "immigration_enforcement",
                "warrant",
                "face",
                target_origins=("US-OR-RIVERTON",),
            ),
        ),
        (
            "pdi fingerprint",
            identify_input(
                PDI_INVESTIGATOR, "criminal_investigation", "treaty_request", "fingerprint"
            ),
        ),
        (
            "pdi face",
            identify_input(PDI_INVESTIGATOR, "criminal_investigation", "treaty_request", "face"),
        ),
        (
            "filter on race",
            identify_input(
                FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", filters={"race": "x"}
            ),
        ),
        (
            "greedy",
            identify_input(
                FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", max_results=100
            ),
        ),
        ("a year later", {**fbi, "context": {**fbi["context"], "now": "2027-06-01T12:00:00Z"}}),
        ("in 2031", {**fbi, "context": {**fbi["context"], "now": "2031-06-01T12:00:00Z"}}),
        ("sort by religion", {**fbi, "request": {**fbi["request"], "sort_by": ["religion"]}}),
        ("max_results a string", {**fbi, "request": {**fbi["request"], "max_results": "10"}}),
        ("no subject", {k: v for k, v in fbi.items() if k != "subject"}),
    ]
    for line in (POLICIES_DIR / "examples" / "decision_inputs.jsonl").read_text().splitlines():
        item = json.loads(line)
        cases.append((f"example: {item['name']}", item["input"]))
    return cases


def candidates() -> list[Candidate]:
    """One candidate per release rule, and two that pass them all."""
    old = NOW - timedelta(days=2200)
    return [
        Candidate("federal", 0.9, record("US", ("us-fbi",))),
        Candidate("oregon", 0.8, record("US-OR", ("or-fusion",))),
        Candidate("riverton", 0.8, record("US-OR-RIVERTON", ("riverton-pd",))),
        Candidate("fusion-copy", 0.8, record("US-OR", ("riverton-pd", "or-fusion"))),
        Candidate("licence", 0.8, record("US-WA", ("wa-dol",))),
        Candidate("chile", 0.8, record("CL", ("cl-pdi",))),
        Candidate("old-riverton", 0.8, record("US-OR-RIVERTON", ("riverton-pd",), captured_at=old)),
        Candidate(
            "withdrawn",
            0.8,
            record("US", ("us-fbi",), consent_withdrawn_at=datetime(2026, 1, 1, tzinfo=UTC)),
        ),
        Candidate(
            "narrow-consent", 0.8, record("US", ("us-fbi",), consent_scopes=("missing_person",))
        ),
        Candidate("unknown-agency", 0.8, record("US", ("shadow-broker",))),
        Candidate("weak", 0.3, record("US", ("us-fbi",))),
    ]


def release_inputs(
    allowed: list[tuple[str, dict[str, Any], dict[str, Any]]],
) -> list[tuple[str, dict[str, Any]]]:
    """For each (name, input, obligations) allowed: the release the broker would ask for."""
    return [
        (f"release after {name}", release_input(policy_input, obligations, candidates()))
        for name, policy_input, obligations in allowed
        if policy_input.get("request", {}).get("operation") in {"identify", "verify"}
    ]
