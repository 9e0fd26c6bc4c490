"""The broker's exception hierarchy. Each maps to one gRPC status in broker/interceptors."""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every error the broker raises on purpose."""


class ConfigError(BrokerError):
    """The configuration is invalid; raised before anything starts."""


class InvalidRequestError(BrokerError):
    """The request is malformed. `field` names the offending field (a dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AuthenticationError(BrokerError):
    """The bearer token is missing, malformed, expired or not trusted."""


class PolicyError(BrokerError):
    """The policy engine failed, timed out, or returned a decision of the wrong shape.

    The broker treats it as a denial (fail closed)."""


class PolicyLoadError(PolicyError):
    """A policy bundle does not parse, compile or validate."""


class DecisionTimeoutError(PolicyError):
    """The policy did not decide within the decision deadline; the broker denies."""


class SigningError(BrokerError):
    """The signing key is missing or unusable; nothing can be receipted."""


class AuditError(BrokerError):
    """The audit log cannot durably record an entry; nothing may be forwarded."""


class VerificationError(BrokerError):
    """An audit log, receipt or signature failed verification."""


class RollbackError(VerificationError):
    """A log's tree head is smaller than one already seen: logs only grow."""


class MatcherUnavailableError(BrokerError):
    """The matcher could not be reached or failed; raised after the decision was logged."""


class RecordExistsError(BrokerError):
    """Enroll named a record id the gallery already holds."""


class AccessDeniedError(BrokerError):
    """The policy denied the call. Carries the signed receipt of the denial."""

    def __init__(
        self, receipt_jws: str, log_seq: int, reasons: tuple[tuple[str, str], ...]
    ) -> None:
        summary = "; ".join(f"{code}: {message}" for code, message in reasons) or "denied"
        super().__init__(f"denied by policy: {summary}")
        self.receipt_jws = receipt_jws
        self.log_seq = log_seq
        self.reasons = reasons


class RateLimitedError(AccessDeniedError):
    """The policy allowed the call but its `rate_limit` obligation is used up. The denial is
    receipted and logged like any other; the caller gets RESOURCE_EXHAUSTED."""


class CanonicalizationError(BrokerError):
    """A value has no RFC 8785 canonical form (NaN, an integer beyond 2^53, a non-string key)."""
