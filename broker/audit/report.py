"""The transparency report: what the broker decided and released, counted, with no personal data.

It reads a log only after `verify_log` accepted it (a report over an unverified log proves
nothing) and counts, per day or month of the decision: searches, denials, releases, records
released and searched per origin, decisions by operation, purpose and agency, deny and
withholding reasons, and the outcome of forwarded calls. Outcomes count in the period of the
decision they belong to.

What it never contains: officer names (`sub`), case ids (never logged), legal-basis references,
receipt ids, record ids or their hashes, free text. Labels are identifiers only; a purpose is
named only if the policy accepted it at least once (a caller could type anything, a name
included, into `purpose`), otherwise it is counted as "(unrecognised)".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from broker.audit.entry import Entry, SignedEntry
from broker.audit.layout import LogLayout, read_lines
from broker.audit.verify import VerificationResult, verify_log
from broker.errors import VerificationError
from broker.receipts import unverified_claims

__all__ = ["GRANULARITIES", "REPORT_FORMAT", "TransparencyReport", "build_report"]

REPORT_FORMAT = "biometric-broker/transparency-report@v1"
GRANULARITIES = {"day": 10, "month": 7}  # prefix length of an RFC 3339 "YYYY-MM-DD..." time
SEARCH_OPERATIONS = frozenset({"identify", "verify"})
UNRECOGNISED = "(unrecognised)"
OTHER = "(other)"
NOT_RECORDED = "(not recorded)"
# Identifiers, not prose: what a public report may print as a label.
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def _label(value: object) -> str:
    return value if isinstance(value, str) and _LABEL.fullmatch(value) else OTHER


@dataclass(frozen=True)
class _Decision:
    period: str
    op: str
    purpose: str  # raw: resolved to a public label when the report is written
    agency: str


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _allow_deny() -> Counter[str]:
    return Counter({"allowed": 0, "denied": 0})


@dataclass
class _Tally:
    """The counts of one period (or of all of them)."""

    by_operation: dict[str, Counter[str]] = field(default_factory=dict)
    by_purpose: dict[str, Counter[str]] = field(default_factory=dict)
    by_agency: dict[str, Counter[str]] = field(default_factory=dict)
    deny_reasons: Counter[str] = field(default_factory=Counter)
    withheld_reasons: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    searched_origins: Counter[str] = field(default_factory=Counter)
    released_origins: Counter[str] = field(default_factory=Counter)
    releases: int = 0
    records_released: int = 0
    records_withheld: int = 0

    def add_decision(self, decision: _Decision, allowed: bool, reasons: Sequence[str]) -> None:
        verdict = "allowed" if allowed else "denied"
        for table, key in (
            (self.by_operation, decision.op),
            (self.by_purpose, decision.purpose),
            (self.by_agency, decision.agency),
        ):
            table.setdefault(key, _allow_deny())[verdict] += 1
        if not allowed:
            self.deny_reasons.update(_label(code) for code in reasons)

    def add_outcome(self, body: Mapping[str, Any]) -> None:
        self.outcomes[_label(body.get("status"))] += 1
        released = body.get("released")
        count = len(released) if isinstance(released, list) else 0
        if count:
            self.releases += 1
            self.records_released += count
            by_origin = body.get("released_by_origin")
            if isinstance(by_origin, Mapping):
                for origin, n in by_origin.items():
                    self.released_origins[_label(origin)] += _count(n)
            else:  # logged before outcomes recorded origins
                self.released_origins[NOT_RECORDED] += count
        self.records_withheld += _count(body.get("withheld_count"))
        reasons = body.get("withheld_reasons")
        if isinstance(reasons, Mapping):
            for code, n in reasons.items():
                self.withheld_reasons[_label(code)] += _count(n)
        searched = body.get("partitions_searched")
        if isinstance(searched, list):
            origins = {p.split("/", 1)[-1] for p in searched if isinstance(p, str)}
            self.searched_origins.update(_label(origin) for origin in origins)

    def to_json(self, purpose_name: Mapping[str, str]) -> dict[str, Any]:
        ops = self.by_operation
        searches = [ops[op] for op in SEARCH_OPERATIONS if op in ops]
        allowed = sum(c["allowed"] for c in ops.values())
        denied = sum(c["denied"] for c in ops.values())
        purposes: dict[str, Counter[str]] = {}
        for raw, counts in self.by_purpose.items():
            purposes.setdefault(purpose_name.get(raw, UNRECOGNISED), _allow_deny()).update(counts)
        origins = sorted(set(self.searched_origins) | set(self.released_origins))
        return {
            "decisions": allowed + denied,
            "allowed": allowed,
            "denied": denied,
            "searches": sum(c["allowed"] + c["denied"] for c in searches),
            "searches_denied": sum(c["denied"] for c in searches),
            "releases": self.releases,
            "records_released": self.records_released,
            "records_withheld": self.records_withheld,
            "by_operation": _table(ops),
            "by_purpose": _table(purposes),
            "by_agency": _table(self.by_agency),
            "by_origin": {
                origin: {
                    "searches": self.searched_origins[origin],
                    "records_released": self.released_origins[origin],
                }
                for origin in origins
            },
            "deny_reasons": dict(sorted(self.deny_reasons.items())),
            "withheld_reasons": dict(sorted(self.withheld_reasons.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
        }


def _table(rows: Mapping[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {key: dict(sorted(rows[key].items())) for key in sorted(rows)}


@dataclass(frozen=True)
class TransparencyReport:
    log: VerificationResult
    granularity: str
    start: date | None
    end: date | None
    periods: dict[str, dict[str, Any]]
    totals: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "log": {
                "origin": self.log.origin,
                "entries": self.log.size,
                "root": self.log.root_hex,
                "checkpoint_size": self.log.checkpoint_size,
                "verified": True,
            },
            "scope": {
                "from": None if self.start is None else self.start.isoformat(),
                "to": None if self.end is None else self.end.isoformat(),
                "by": self.granularity,
            },
            "totals": self.totals,
            "periods": [{"period": p, **counts} for p, counts in sorted(self.periods.items())],
        }


def build_report(
    directory: Path,
    *,
    granularity: str = "month",
    start: date | None = None,
    end: date | None = None,
    jwks: Mapping[str, Any] | None = None,
    checkpoints: Sequence[str] = (),
) -> TransparencyReport:
    """Verifies the log, then counts decisions made from `start` to `end` (inclusive dates,
    UTC; None: unbounded) per `granularity` ("day" or "month")."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"by: {granularity!r} is not one of {sorted(GRANULARITIES)}")
    if start is not None and end is not None and end < start:
        raise ValueError(f"to: {end} is before from: {start}")
    verified = verify_log(directory, jwks=jwks, checkpoints=checkpoints)
    width = GRANULARITIES[granularity]
    low = "" if start is None else start.isoformat()
    high = "\uffff" if end is None else end.isoformat()
    decisions: dict[int, _Decision] = {}
    accepted: set[str] = set()
    periods: dict[str, _Tally] = {}
    totals = _Tally()
    for entry in _entries(LogLayout(Path(directory)), verified.size):
        if entry.kind == "decision":
            claims = unverified_claims(entry.body["receipt"])  # verify_log checked every one
            allowed = claims["decision"] == "allow"
            if allowed:
                accepted.add(claims["purpose"])
            if not low <= entry.time[:10] <= high:
                continue
            op, agency = _label(claims["op"]), _label(claims["agency"])
            decision = _Decision(entry.time[:width], op, claims["purpose"], agency)
            decisions[entry.seq] = decision
            reasons = [str(r.get("code")) for r in claims["reasons"] if isinstance(r, Mapping)]
            for tally in (periods.setdefault(decision.period, _Tally()), totals):
                tally.add_decision(decision, allowed, reasons)
        elif entry.kind == "outcome":
            seq = entry.body.get("decision_seq")
            decision_of = decisions.get(seq) if isinstance(seq, int) else None
            if decision_of is not None:
                for tally in (periods[decision_of.period], totals):
                    tally.add_outcome(entry.body)
    names = {raw: raw for raw in accepted if _LABEL.fullmatch(raw)}
    return TransparencyReport(
        log=verified,
        granularity=granularity,
        start=start,
        end=end,
        periods={p: t.to_json(names) for p, t in periods.items()},
        totals=totals.to_json(names),
    )


def _entries(layout: LogLayout, size: int) -> Iterator[Entry]:
    """The first `size` entries: those verified (a running writer may have added more)."""
    try:
        for raw in read_lines(layout.log):
            if raw.index >= size or not raw.complete:
                return
            yield SignedEntry.parse_line(raw.data).entry
    except OSError as e:
        raise VerificationError(f"{layout.log}: unreadable: {e}") from e
