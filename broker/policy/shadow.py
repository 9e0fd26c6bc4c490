"""Shadow mode: a candidate bundle decides every request beside the active one, off the
request's path, and every disagreement is recorded. The caller always gets the active
bundle's decision.

`ShadowedEngine` wraps the active engine: after each decision it queues (input, what the
active bundle decided) and returns at once. One background thread evaluates the candidate
on each queued input (under the candidate engine's own deadline) and compares, as
`broker policy diff` does (broker/policy/compare.py): where the allow or the obligations
differ, it appends a "shadow" audit entry with both revisions, the input's digest (the
same `input_digest` as the decision's receipt) and both outcomes, and counts it.

No divergence is dropped: the queue is bounded, and when it is full a request waits for
room (at most one candidate deadline per queued input) rather than skip the comparison.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from broker.canonical import digest
from broker.errors import BrokerError, PolicyError
from broker.models import JSON, Decision, Release
from broker.policy.compare import Outcome, divergence
from broker.policy.engine import PolicyEngine
from broker.policy.metrics import PolicyMetrics

log = logging.getLogger(__name__)

# Inputs waiting for the candidate. At ~2 ms per candidate decision this is a few seconds
# of backlog; more would only hide that the candidate cannot keep up.
QUEUE_SIZE = 1024
SHADOW_KIND = "shadow"


@dataclass(frozen=True)
class _Job:
    policy_input: JSON
    active_revision: str
    active: Outcome


class ShadowComparer:
    """The background half: evaluates the candidate and records divergences.

    `candidate` returns the candidate engine in service (None: nothing to compare with).
    `record(kind, body)` appends an audit entry."""

    def __init__(
        self,
        candidate: Callable[[], PolicyEngine | None],
        record: Callable[[str, JSON], object],
        metrics: PolicyMetrics,
        *,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self._candidate = candidate
        self._record = record
        self._metrics = metrics
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="policy-shadow", daemon=True)
        self._started = False

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def submit(self, policy_input: JSON, active_revision: str, active: Outcome) -> None:
        """Queues one comparison; waits for room when the queue is full."""
        self._queue.put(_Job(policy_input, active_revision, active))

    def drain(self) -> None:
        """Waits until every queued comparison is done."""
        self._queue.join()

    def stop(self) -> None:
        """Finishes the queued comparisons, then stops."""
        if self._started:
            self._queue.put(None)
            self._thread.join()
            self._started = False

    def compare(self, job: _Job) -> None:
        candidate = self._candidate()
        if candidate is None:
            self._metrics.shadow_evaluations.add(1, {"outcome": "no_candidate"})
            return
        try:
            outcome = Outcome.of_decision(candidate.decide(job.policy_input))
        except PolicyError as e:
            outcome = Outcome.of_error(e)
        differs = divergence(job.active, outcome)
        self._metrics.shadow_evaluations.add(1, {"outcome": "differs" if differs else "agrees"})
        if not differs:
            return
        self._metrics.shadow_divergences.add(1, {"kind": differs[0]})
        body: JSON = {
            "active_revision": job.active_revision,
            "candidate_revision": candidate.revision,
            "input_digest": digest(job.policy_input),
            "differs": list(differs),
            "active": job.active.to_json(),
            "candidate": outcome.to_json(),
        }
        try:
            self._record(SHADOW_KIND, body)
        except BrokerError:
            log.exception("could not record a shadow divergence (%s)", body["input_digest"])

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self.compare(job)
            except Exception:  # one bad comparison must not end shadow mode
                log.exception("shadow comparison failed")
            finally:
                self._queue.task_done()


class ShadowedEngine:
    """The active engine, with every decision also handed to the comparer."""

    def __init__(self, active: PolicyEngine, comparer: ShadowComparer) -> None:
        self._active = active
        self._comparer = comparer

    @property
    def revision(self) -> str:
        return self._active.revision

    def decide(self, policy_input: JSON, /) -> Decision:
        try:
            decision = self._active.decide(policy_input)
        except PolicyError as e:
            self._comparer.submit(policy_input, self._active.revision, Outcome.of_error(e))
            raise
        self._comparer.submit(policy_input, self._active.revision, Outcome.of_decision(decision))
        return decision

    def release(self, release_input: JSON, /) -> Release:
        return self._active.release(release_input)
