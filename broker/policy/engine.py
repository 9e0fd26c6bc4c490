"""The one interface every policy backend implements (embedded OPA, OPA server)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from broker.models import JSON, Decision, Release
from broker.policy.decision import candidate_ids, parse_decision, parse_release

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


class DocumentEngine(ABC):
    """Decide and release on top of one raw evaluation, so every backend parses its answers
    with the same strict parsers and none can drift into a laxer reading."""

    @property
    @abstractmethod
    def revision(self) -> str: ...

    @abstractmethod
    def evaluate(self, document: str, policy_input: JSON) -> Any:
        """The raw value of data.<document>; PolicyError if undefined or failing."""

    def decide(self, policy_input: JSON, /) -> Decision:
        request = policy_input.get("request") if isinstance(policy_input, dict) else None
        operation = request.get("operation") if isinstance(request, dict) else None
        document = self.evaluate(DECISION_DOCUMENT, policy_input)
        return parse_decision(document, operation if isinstance(operation, str) else None)

    def release(self, release_input: JSON, /) -> Release:
        ids = candidate_ids(release_input)
        return parse_release(self.evaluate(RELEASE_DOCUMENT, release_input), ids)
