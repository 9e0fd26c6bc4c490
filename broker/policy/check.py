"""`broker policy check`: everything the broker verifies before it loads a bundle.

1. the modules parse and compile, the data documents are valid JSON and match their
   schemas, and the documents agree with each other (PolicyBundle.load, and the compile in
   the engine);
2. sample inputs built from the bundle's own data (broker/policy/samples.py) get answers of
   the documented shape: every decision parses as one the broker acts on, a denial says why
   and obliges nothing, and every release answers for every candidate.

The broker runs this check on every bundle it loads, at start and on every reload, with the
engine that is going to serve it; a bundle that fails is refused.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from broker.errors import DecisionTimeoutError, PolicyError, PolicyLoadError
from broker.models import JSON
from broker.policy.bundle import PolicyBundle
from broker.policy.decision import candidate_ids, parse_decision, parse_release
from broker.policy.engine import DECISION_DOCUMENT, RELEASE_DOCUMENT
from broker.policy.samples import (
    MAX_RELEASE_SAMPLES,
    SEARCHES,
    Sample,
    decision_samples,
    release_sample,
)


class Evaluator(Protocol):
    """An engine that returns the raw value of a document (IsolatedEngine, EmbeddedEngine)."""

    def evaluate(self, document: str, policy_input: JSON) -> Any: ...


@dataclass(frozen=True)
class CheckReport:
    revision: str
    modules: tuple[str, ...]
    documents: tuple[str, ...]
    decisions: int
    allowed: int
    releases: int

    def lines(self) -> list[str]:
        return [
            f"ok  {len(self.modules)} modules parse and compile",
            f"ok  {len(self.documents)} data documents match their schemas: "
            + ", ".join(self.documents),
            "ok  the data documents agree with each other (data.broker.integrity.errors)",
            f"ok  {self.decisions} sample decisions have the documented shape "
            f"({self.allowed} allowed, {self.decisions - self.allowed} denied)",
            f"ok  {self.releases} sample releases answer for every candidate",
            f"revision {self.revision}",
        ]


def check_answers(
    bundle: PolicyBundle, engine: Evaluator, now: datetime | None = None, *, parallel: int = 1
) -> CheckReport:
    """Evaluates the samples with `engine` (which holds `bundle`), `parallel` at a time (an
    engine with that many workers). PolicyLoadError names the first sample, in order, whose
    answer is wrong, or that took longer than the engine's deadline."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    samples = decision_samples(bundle.data, moment)
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        answers = list(pool.map(lambda s: _answer(engine, DECISION_DOCUMENT, s), samples))
        releases: list[Sample] = []
        allowed = 0
        for sample, raw in zip(samples, answers, strict=True):
            if _decision_of(sample, raw):
                allowed += 1
                if sample.operation in SEARCHES and len(releases) < MAX_RELEASE_SAMPLES:
                    releases.append(release_sample(sample, raw["obligations"], bundle.data))
        released = list(pool.map(lambda s: _answer(engine, RELEASE_DOCUMENT, s), releases))
    for sample, raw in zip(releases, released, strict=True):
        try:
            parse_release(raw, candidate_ids(sample.input))
        except PolicyError as e:
            raise PolicyLoadError(f"sample {sample.name!r}: {e}") from e
    return CheckReport(
        revision=bundle.revision,
        modules=tuple(sorted(bundle.modules)),
        documents=tuple(sorted(bundle.data)),
        decisions=len(samples),
        allowed=allowed,
        releases=len(releases),
    )


def _decision_of(sample: Sample, raw: Any) -> bool:
    """Whether the answer allows; PolicyLoadError if it is not of the documented shape."""
    try:
        decision = parse_decision(raw, sample.operation)
    except PolicyError as e:
        raise PolicyLoadError(f"sample {sample.name!r}: {e}") from e
    if not decision.reasons:
        raise PolicyLoadError(f"sample {sample.name!r}: a decision must give its reasons")
    if not decision.allow and raw["obligations"] != {}:
        raise PolicyLoadError(f"sample {sample.name!r}: a denial must oblige nothing ({{}})")
    return decision.allow


def _answer(engine: Evaluator, document: str, sample: Sample) -> Any:
    try:
        return engine.evaluate(document, sample.input)
    except DecisionTimeoutError as e:
        raise PolicyLoadError(
            f"sample {sample.name!r}: data.{document} took longer than the decision deadline"
        ) from e
    except PolicyError as e:
        raise PolicyLoadError(f"sample {sample.name!r}: {e}") from e
