"""One query's path through the broker (DESIGN.md, "The path of one query").

    decide → sign a receipt → append it durably → (deny: stop) → forward with obligations
    → release by provenance → append the outcome → return

Nothing reaches the matcher before the decision entry is durable, and nothing is returned
that the audit log does not record.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broker.audit.log import AuditLog, LogPosition
from broker.canonical import digest
from broker.errors import (
    AccessDeniedError,
    BrokerError,
    DecisionTimeoutError,
    MatcherUnavailableError,
    PolicyError,
    RateLimitedError,
)
from broker.keys import SigningKey
from broker.limits import RateLimiter
from broker.matcher_client import Filters, MatcherClient, SearchOutcome, origins_of
from broker.models import JSON, Candidate, Decision, Operation, Principal, Reason, Release
from broker.policy.engine import PolicyEngine
from broker.policy_input import PolicyContext, build_input, identify_input, verify_input
from broker.receipts import issue_receipt
from broker.requests import (
    EnrollCommand,
    ExpungeCommand,
    IdentifyQuery,
    VerifyQuery,
    template_digest,
)
from broker.telemetry import Telemetry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recorded:
    """A decision that is durable in the audit log, with its signed receipt."""

    decision: Decision
    receipt_jws: str
    log_seq: int
    input: JSON


@dataclass(frozen=True)
class Released:
    candidates: tuple[Candidate, ...]
    withheld: int
    withheld_reasons: dict[str, int]


@dataclass(frozen=True)
class IdentifyResult:
    recorded: Recorded
    released: Released
    outcome_seq: int


@dataclass(frozen=True)
class VerifyResult:
    recorded: Recorded
    candidate: Candidate | None
    match: bool
    outcome_seq: int


@dataclass(frozen=True)
class CommandResult:
    recorded: Recorded
    changed: bool
    outcome_seq: int


class Pipeline:
    def __init__(
        self,
        *,
        broker_id: str,
        engine_provider: Callable[[], PolicyEngine],
        key: SigningKey,
        audit_log: AuditLog,
        matcher: MatcherClient,
        overfetch_factor: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        telemetry: Telemetry | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self._broker_id = broker_id
        self._engine_provider = engine_provider
        self._key = key
        self._log = audit_log
        self._matcher = matcher
        self._overfetch = overfetch_factor
        self._clock = clock
        self._telemetry = telemetry or Telemetry.disabled()
        self._rate_limiter = rate_limiter or RateLimiter()

    # -- operations ---------------------------------------------------------------------

    def identify(self, principal: Principal, query: IdentifyQuery) -> IdentifyResult:
        engine = self._engine_provider()
        context = self._context(engine)
        partitions = self._matcher.partitions()
        origins = origins_of(partitions, query.modality)
        policy_input = identify_input(principal, query, origins, context)
        recorded = self._decide_and_record(engine, principal, Operation.IDENTIFY, policy_input)
        obligations = recorded.decision.obligations
        wanted = min(query.max_results, obligations.max_results or query.max_results)
        excluded = set(obligations.exclude_origins)
        filters = Filters(
            valid_at=context.now,
            # An allow-list, not only the deny-list: an origin the policy never saw (a
            # partition created after the listing) is not searched.
            include_origins=tuple(o for o in origins if o not in excluded),
            exclude_origins=tuple(sorted(excluded)),
            required_consent_scope=obligations.required_consent_scope,
            not_captured_before=obligations.not_captured_before,
            source_agencies=tuple(v for k, v in query.filters.items() if k == "source_agency"),
        )
        if not filters.include_origins:
            # An empty allow-list means "no restriction" to the matcher; here it means the
            # policy left nothing to search.
            outcome = SearchOutcome(candidates=(), partitions_searched=())
        else:
            try:
                with self._telemetry.step("matcher", **{"matcher.call": "search"}):
                    outcome = self._matcher.search(
                        query.modality,
                        query.probe,
                        k=wanted * self._overfetch,
                        min_score=obligations.min_score or 0.0,
                        filters=filters,
                    )
            except MatcherUnavailableError:
                self._append_failure(recorded, "matcher_unavailable")
                raise
        released = self._release(engine, recorded, outcome.candidates, wanted)
        outcome_seq = self._append_outcome(
            recorded, released, partitions_searched=outcome.partitions_searched
        )
        return IdentifyResult(recorded, released, outcome_seq)

    def verify(self, principal: Principal, query: VerifyQuery) -> VerifyResult:
        engine = self._engine_provider()
        context = self._context(engine)
        policy_input = verify_input(principal, query, context)
        recorded = self._decide_and_record(engine, principal, Operation.VERIFY, policy_input)
        obligations = recorded.decision.obligations
        filters = Filters(
            valid_at=context.now,
            exclude_origins=obligations.exclude_origins,
            required_consent_scope=obligations.required_consent_scope,
            not_captured_before=obligations.not_captured_before,
        )
        try:
            with self._telemetry.step("matcher", **{"matcher.call": "compare"}):
                candidate = self._matcher.compare(
                    query.record_id, query.modality, query.probe, filters
                )
        except MatcherUnavailableError:
            self._append_failure(recorded, "matcher_unavailable")
            raise
        # The release rule judges the record like any candidate (provenance and score floor):
        # a record it withholds is neither scored nor confirmed to exist.
        released = self._release(
            engine, recorded, () if candidate is None else (candidate,), wanted=1
        )
        kept = released.candidates[0] if released.candidates else None
        outcome_seq = self._append_outcome(recorded, released, extra={"match": kept is not None})
        return VerifyResult(recorded, kept, kept is not None, outcome_seq)

    def enroll(self, principal: Principal, command: EnrollCommand) -> CommandResult:
        engine = self._engine_provider()
        policy_input = build_input(
            principal,
            Operation.ENROLL,
            command.justification,
            modality=command.modality,
            resource={
                "record_id": command.record_id,
                "provenance": command.provenance.to_policy(),
            },
            context=self._context(engine),
            template_digest=template_digest(command.template),
        )
        recorded = self._decide_and_record(engine, principal, Operation.ENROLL, policy_input)
        try:
            with self._telemetry.step("matcher", **{"matcher.call": "add"}):
                self._matcher.add(
                    command.record_id, command.modality, command.template, command.provenance
                )
        except BrokerError as e:
            self._append_failure(recorded, type(e).__name__)
            raise
        seq = self._append_entry(
            "outcome",
            {
                "decision_seq": recorded.log_seq,
                "status": "ok",
                "enrolled": [_hash_id(command.record_id)],
            },
        )
        return CommandResult(recorded, True, seq)

    def expunge(self, principal: Principal, command: ExpungeCommand) -> CommandResult:
        engine = self._engine_provider()
        policy_input = build_input(
            principal,
            Operation.EXPUNGE,
            command.justification,
            modality=None,
            resource={"record_id": command.record_id},
            context=self._context(engine),
        )
        recorded = self._decide_and_record(engine, principal, Operation.EXPUNGE, policy_input)
        try:
            with self._telemetry.step("matcher", **{"matcher.call": "remove"}):
                removed = self._matcher.remove(command.record_id)
        except BrokerError as e:
            self._append_failure(recorded, type(e).__name__)
            raise
        seq = self._append_entry(
            "outcome",
            {
                "decision_seq": recorded.log_seq,
                "status": "ok",
                "expunged": [_hash_id(command.record_id)] if removed else [],
            },
        )
        return CommandResult(recorded, removed, seq)

    # -- the steps ----------------------------------------------------------------------

    def _context(self, engine: PolicyEngine) -> PolicyContext:
        return PolicyContext(
            now=self._clock().replace(microsecond=0),
            broker_id=self._broker_id,
            policy_revision=engine.revision,
        )

    def _decide_and_record(
        self, engine: PolicyEngine, principal: Principal, op: Operation, policy_input: JSON
    ) -> Recorded:
        """Decides, signs and appends; returns only when the entry is durable.

        A policy failure is a signed denial (fail closed). An audit or signing failure raises,
        and then nothing is forwarded."""
        with self._telemetry.step("decision") as span:
            try:
                decision = engine.decide(policy_input)
            except DecisionTimeoutError as e:
                log.warning("policy missed the decision deadline, denying: %s", e)
                decision = Decision.deny(
                    "decision_timeout", "the policy did not decide within the deadline; denied"
                )
            except PolicyError as e:
                log.warning("policy evaluation failed, denying: %s", e)
                decision = Decision.deny("policy_error", "the policy could not decide; denied")
            decision, limited = self._apply_rate_limit(principal, policy_input, decision)
            self._telemetry.record_decision(op, decision, span)
        request = policy_input["request"]
        holder: dict[str, Any] = {}

        # Everything but the log position is computed before the append: make_body runs
        # under the audit log's lock, where every concurrent request waits its turn.
        claims = {
            "iss": self._broker_id,
            "iat": int(self._clock().timestamp()),
            "jti": str(uuid.uuid4()),
            "sub": principal.officer,
            "agency": principal.agency,
            "op": str(op),
            "purpose": request["purpose"],
            "legal_basis": request["legal_basis"],
            "decision": "allow" if decision.allow else "deny",
            "reasons": [r.to_json() for r in decision.reasons],
            "obligations": decision.obligations.to_json() if decision.allow else {},
            "policy_revision": engine.revision,
            "input_digest": digest(policy_input),
        }

        def make_body(position: LogPosition) -> JSON:
            with self._telemetry.step("receipt"):
                holder["jws"] = issue_receipt(
                    self._key, {**claims, "log": {"seq": position.seq, "prev": position.prev}}
                )
            return {"receipt": holder["jws"]}

        with self._telemetry.step("audit_append", **{"audit.kind": "decision"}) as span:
            appended = self._log.append("decision", make_body)
            span.set_attribute("audit.seq", appended.seq)
        recorded = Recorded(decision, holder["jws"], appended.seq, policy_input)
        if not decision.allow:
            raise (RateLimitedError if limited else AccessDeniedError)(
                recorded.receipt_jws,
                recorded.log_seq,
                tuple((r.code, r.message) for r in decision.reasons),
            )
        return recorded

    def _apply_rate_limit(
        self, principal: Principal, policy_input: JSON, decision: Decision
    ) -> tuple[Decision, bool]:
        """An allow whose `rate_limit` obligation the request would exceed becomes a denial
        (receipted and logged like any other), reported to the caller as RESOURCE_EXHAUSTED."""
        limit = decision.obligations.rate_limit
        if not decision.allow or limit is None:
            return decision, False
        with self._telemetry.step("rate_limit"):
            exceeded = self._rate_limiter.admit(
                principal.agency, principal.officer, str(policy_input["request"]["case_id"]), limit
            )
        if exceeded is None:
            return decision, False
        return Decision(False, (Reason("rate_limited", exceeded.message()),)), True

    def _release(
        self,
        engine: PolicyEngine,
        recorded: Recorded,
        candidates: tuple[Candidate, ...],
        wanted: int,
    ) -> Released:
        if not candidates:
            return Released((), 0, {})
        release_input = {
            "subject": recorded.input["subject"],
            "request": recorded.input["request"],
            "context": recorded.input["context"],
            "obligations": recorded.decision.obligations.to_json(),
            "candidates": [c.to_policy() for c in candidates],
        }
        with self._telemetry.step("release"):
            try:
                verdict: Release = engine.release(release_input)
            except PolicyError as e:
                log.warning("release rule failed, releasing nothing: %s", e)
                verdict = Release(released=(), withheld=())
        allowed = set(verdict.released)
        kept = sorted(
            (c for c in candidates if c.record_id in allowed),
            key=lambda c: (-c.score, c.record_id),
        )[:wanted]
        reasons = Counter(code for w in verdict.withheld for code in w.reasons)
        over_cap = len(allowed) - len(kept)
        if over_cap > 0:
            reasons["over_max_results"] += over_cap
        return Released(tuple(kept), len(candidates) - len(kept), dict(sorted(reasons.items())))

    def _append_outcome(
        self,
        recorded: Recorded,
        released: Released,
        *,
        partitions_searched: tuple[str, ...] = (),
        extra: JSON | None = None,
    ) -> int:
        body: JSON = {
            "decision_seq": recorded.log_seq,
            "status": "ok",
            "released": [_hash_id(c.record_id) for c in released.candidates],
            # Counts per origin jurisdiction, for the transparency report (no record ids).
            "released_by_origin": dict(
                sorted(
                    Counter(c.provenance.origin_jurisdiction for c in released.candidates).items()
                )
            ),
            "withheld_count": released.withheld,
            "withheld_reasons": released.withheld_reasons,
            "partitions_searched": list(partitions_searched),
        }
        body.update(extra or {})
        return self._append_entry("outcome", body)

    def _append_failure(self, recorded: Recorded, status: str) -> None:
        try:
            self._append_entry("outcome", {"decision_seq": recorded.log_seq, "status": status})
        except BrokerError:
            log.exception("could not record the failure outcome of entry %d", recorded.log_seq)

    def _append_entry(self, kind: str, body: JSON) -> int:
        with self._telemetry.step("audit_append", **{"audit.kind": kind}) as span:
            seq = self._log.append(kind, lambda _position: body).seq
            span.set_attribute("audit.seq", seq)
        return seq


def _hash_id(record_id: str) -> str:
    """What the log keeps of a released record: enough to prove which, not a readable id."""
    return hashlib.sha256(b"record-id:" + record_id.encode()).hexdigest()
