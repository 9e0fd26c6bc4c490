"""The one interface every policy backend implements (embedded OPA, OPA server)."""

from __future__ import annotations

from typing import Protocol

from broker.models import JSON, Decision, Release

# The documents every bundle must define (DESIGN.md, "Policy contract").
DECISION_DOCUMENT = "broker.decision"
RELEASE_DOCUMENT = "broker.release"


class PolicyEngine(Protocol):
    """Decides requests and releases candidates with one loaded bundle.

    Any engine error, undefined result or malformed result raises PolicyError: the caller
    denies (decide) or releases nothing (release). Never a default answer."""

    @property
    def revision(self) -> str:
        """SHA-256 (hex) of the loaded bundle; it goes into every receipt."""
        ...

    def decide(self, policy_input: JSON, /) -> Decision:
        """Evaluates data.broker.decision for one request."""
        ...

    def release(self, release_input: JSON, /) -> Release:
        """Evaluates data.broker.release over a request's candidates."""
        ...
