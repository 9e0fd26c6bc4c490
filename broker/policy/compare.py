"""What two bundles decided on one input, and whether they disagree.

Shared by shadow mode (online, broker/policy/shadow.py) and `broker policy diff` (offline),
so both call the same things a divergence: the allow differs, or the obligations differ.
Reasons may be worded differently without that being a divergence.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.errors import DecisionTimeoutError, PolicyError
from broker.models import JSON, Decision


@dataclass(frozen=True)
class Outcome:
    """A decision as the broker would act on it; an engine error is a denial."""

    allow: bool
    reasons: tuple[str, ...]
    obligations: JSON
    error: str | None = None

    @classmethod
    def of_decision(cls, decision: Decision) -> Outcome:
        return cls(
            allow=decision.allow,
            reasons=tuple(r.code for r in decision.reasons),
            obligations=decision.obligations.to_json() if decision.allow else {},
        )

    @classmethod
    def of_error(cls, error: PolicyError) -> Outcome:
        """What the broker does on an engine error: deny, with the code it would sign."""
        code = "decision_timeout" if isinstance(error, DecisionTimeoutError) else "policy_error"
        return cls(allow=False, reasons=(code,), obligations={}, error=str(error))

    def to_json(self) -> JSON:
        doc: JSON = {
            "allow": self.allow,
            "reasons": list(self.reasons),
            "obligations": self.obligations,
        }
        if self.error is not None:
            doc["error"] = self.error
        return doc

    def summary(self) -> str:
        """One line for people: `allow; max_results=5, ...` or `deny (codes)`."""
        if not self.allow:
            return f"deny ({', '.join(self.reasons) or 'no reason'})"
        terms = ", ".join(f"{k}={v}" for k, v in sorted(self.obligations.items()))
        return f"allow; {terms}"


def divergence(active: Outcome, candidate: Outcome) -> tuple[str, ...]:
    """What differs: "allow", "obligations", or nothing."""
    if active.allow != candidate.allow:
        return ("allow",)
    if active.obligations != candidate.obligations:
        return ("obligations",)
    return ()


def changed_obligations(active: Outcome, candidate: Outcome) -> list[str]:
    """Each obligation that differs, as `key: active -> candidate` (absent when missing)."""
    keys = sorted(active.obligations.keys() | candidate.obligations.keys())
    return [
        f"{key}: {active.obligations.get(key, '(absent)')} -> "
        f"{candidate.obligations.get(key, '(absent)')}"
        for key in keys
        if active.obligations.get(key) != candidate.obligations.get(key)
    ]
