"""The scripted queries of `broker demo`, each with what it must show.

Every step states its expectation, so the demo doubles as an end-to-end smoke test: a step
that does not behave as described is reported as UNEXPECTED and the demo exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import numpy as np

from broker.client import DeniedError, Justification
from broker.demo.environment import DemoEnvironment
from broker.receipts import ReceiptVerifier


@dataclass(frozen=True)
class Step:
    title: str
    who: str
    justification: Justification
    modality: str
    probe: Callable[[DemoEnvironment], np.ndarray]
    expect_allow: bool
    expect_reason: str | None = None  # a deny reason code that must be present
    must_release_from: tuple[str, ...] = ()  # record-id prefixes that must be released
    must_not_release_from: tuple[str, ...] = ()  # record-id prefixes that must not be
    filters: dict[str, str] = field(default_factory=dict)
    max_results: int = 10


@dataclass
class StepResult:
    step: Step
    allowed: bool
    released: list[tuple[str, float, str]]
    withheld: int
    reasons: list[tuple[str, str]]
    receipt_seq: int
    human_review: bool
    problems: list[str]
    excluded_origins: list[str] = field(default_factory=list)


WARRANT = Justification("criminal_investigation", "warrant", "OR-CIRC-2026-1187", "RPD-26-0412")
ADMIN_WARRANT = Justification(
    "immigration_enforcement", "administrative_warrant", "I-200-2026-5531", "HSI-26-9921"
)
TREATY = Justification("criminal_investigation", "treaty_request", "PCSC-CL-2026-044", "PDI-26-77")

STEPS = (
    Step(
        "A Riverton robbery: the FBI identifies a face (criminal investigation, warrant)",
        "fbi-investigator",
        WARRANT,
        "face",
        lambda env: env.gallery.probe("riverton-pd", 0, "face"),
        expect_allow=True,
        must_release_from=("riverton-pd:p000:", "or-fusion:copy-of-riverton-p000:"),
    ),
    Step(
        "HSI searches the same face for immigration enforcement: sanctuary records withheld, "
        "including the fusion centre's copies",
        "hsi-officer",
        ADMIN_WARRANT,
        "face",
        lambda env: env.gallery.probe("riverton-pd", 0, "face"),
        expect_allow=True,
        must_not_release_from=("riverton-pd:", "or-fusion:copy-of-riverton-"),
    ),
    Step(
        "HSI searches a Riverton face the fusion centre relabelled as a state record: "
        "the lineage still withholds it",
        "hsi-officer",
        ADMIN_WARRANT,
        "face",
        lambda env: env.gallery.probe("riverton-pd", 12, "face"),
        expect_allow=True,
        must_not_release_from=("riverton-pd:", "or-fusion:copy-of-riverton-"),
    ),
    Step(
        "HSI searches a federal face for immigration enforcement: released",
        "hsi-officer",
        ADMIN_WARRANT,
        "face",
        lambda env: env.gallery.probe("us-fbi", 10, "face"),
        expect_allow=True,
        must_release_from=("us-fbi:p010:",),
    ),
    Step(
        "Chile's PDI asks for a face search: the US–Chile agreement covers fingerprints only",
        "pdi-detective",
        TREATY,
        "face",
        lambda env: env.gallery.probe("us-fbi", 10, "face"),
        expect_allow=False,
    ),
    Step(
        "Chile's PDI searches a fingerprint under the US–Chile agreement: capped, human review",
        "pdi-detective",
        TREATY,
        "fingerprint",
        lambda env: env.gallery.probe("us-fbi", 11, "fingerprint"),
        expect_allow=True,
        must_release_from=("us-fbi:p011:",),
    ),
    Step(
        "A record past its retention date is never released",
        "fbi-investigator",
        WARRANT,
        "face",
        lambda env: env.gallery.probe("us-fbi", 0, "face"),
        expect_allow=True,
        must_not_release_from=("us-fbi:p000:",),
    ),
    Step(
        "A record whose consent was withdrawn is never released",
        "fbi-investigator",
        WARRANT,
        "face",
        lambda env: env.gallery.probe("us-fbi", 3, "face"),
        expect_allow=True,
        must_not_release_from=("us-fbi:p003:",),
    ),
    Step(
        "A search filtered on ethnicity is denied, and the attempt is on the record",
        "hsi-officer",
        ADMIN_WARRANT,
        "face",
        lambda env: env.gallery.stranger("face"),
        expect_allow=False,
        expect_reason="protected_attribute_filter",
        filters={"ethnicity": "hispanic"},
    ),
    Step(
        "A search with no legal basis is denied",
        "fbi-investigator",
        Justification("criminal_investigation", "", "", "RPD-26-0413"),
        "face",
        lambda env: env.gallery.stranger("face"),
        expect_allow=False,
    ),
    Step(
        "An agency the policy does not know is denied",
        "unknown-agency",
        WARRANT,
        "face",
        lambda env: env.gallery.stranger("face"),
        expect_allow=False,
        expect_reason="unknown_agency",
    ),
)


def run_step(env: DemoEnvironment, step: Step, receipts: ReceiptVerifier) -> StepResult:
    """Runs one query; every receipt it gets back is verified against the served keys."""
    client = env.client(step.who)
    try:
        response = client.identify(
            step.justification,
            step.modality,
            step.probe(env),
            max_results=step.max_results,
            filters=step.filters,
        )
    except DeniedError as denied:
        receipts.verify(denied.details.receipt.jws)
        result = StepResult(
            step, False, [], 0, denied.reasons, denied.details.receipt.log_seq, False, []
        )
    except grpc.RpcError as e:
        result = StepResult(step, False, [], 0, [(e.code().name, e.details() or "")], -1, False, [])
        result.problems.append(f"unexpected gRPC error {e.code().name}")
        return result
    else:
        result = StepResult(
            step,
            True,
            [(c.record_id, c.score, c.origin_jurisdiction) for c in response.candidates],
            response.withheld,
            [],
            response.decision_receipt.log_seq,
            response.human_review_required,
            [],
            receipts.verify(response.decision_receipt.jws)["obligations"]["exclude_origins"],
        )
    result.problems.extend(_check(step, result))
    return result


def _check(step: Step, result: StepResult) -> list[str]:
    problems = []
    if result.allowed != step.expect_allow:
        problems.append(f"expected {'allow' if step.expect_allow else 'deny'}")
    codes = {code for code, _ in result.reasons}
    if step.expect_reason and step.expect_reason not in codes:
        problems.append(f"expected reason {step.expect_reason}, got {sorted(codes)}")
    ids = [record_id for record_id, _, _ in result.released]
    for prefix in step.must_release_from:
        if not any(i.startswith(prefix) for i in ids):
            problems.append(f"expected a record {prefix}* to be released")
    for prefix in step.must_not_release_from:
        leaked = [i for i in ids if i.startswith(prefix)]
        if leaked:
            problems.append(f"released what must be withheld: {leaked}")
    return problems
