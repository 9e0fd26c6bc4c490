"""The one place where broker errors become gRPC statuses.

An unexpected exception becomes INTERNAL with a fixed message; its text stays in the log.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import grpc
from biometric.broker.v1 import broker_pb2
from google.protobuf import any_pb2
from google.rpc import code_pb2, status_pb2

from broker.errors import (
    AccessDeniedError,
    AuditError,
    AuthenticationError,
    BrokerError,
    InvalidRequestError,
    MatcherUnavailableError,
    PolicyError,
    RateLimitedError,
    RecordExistsError,
    SigningError,
)

log = logging.getLogger(__name__)

RECEIPT_TRAILER = "decision-receipt"
_STATUS_DETAILS_TRAILER = "grpc-status-details-bin"

_CODES: tuple[tuple[type[BrokerError], grpc.StatusCode, str | None], ...] = (
    # (error, status, fixed message or None to send the error's own text)
    (AuthenticationError, grpc.StatusCode.UNAUTHENTICATED, None),
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT, None),
    (RecordExistsError, grpc.StatusCode.ALREADY_EXISTS, None),
    (AuditError, grpc.StatusCode.UNAVAILABLE, "audit log unavailable; nothing was forwarded"),
    (SigningError, grpc.StatusCode.UNAVAILABLE, "signing key unavailable; nothing was forwarded"),
    (MatcherUnavailableError, grpc.StatusCode.UNAVAILABLE, "matcher unavailable; nothing released"),
    (PolicyError, grpc.StatusCode.PERMISSION_DENIED, "the policy could not decide; denied"),
)


class _Status(NamedTuple):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


def denial_status(error: AccessDeniedError) -> grpc.Status:
    """PERMISSION_DENIED (RESOURCE_EXHAUSTED for a rate limit) with the receipt in the rich
    status details and in a trailer."""
    receipt = broker_pb2.Receipt(jws=error.receipt_jws, log_seq=error.log_seq)
    details = broker_pb2.DenialDetails(
        receipt=receipt,
        reasons=[broker_pb2.Reason(code=c, message=m) for c, m in error.reasons],
    )
    packed = any_pb2.Any()
    packed.Pack(details)
    limited = isinstance(error, RateLimitedError)
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED if limited else code_pb2.PERMISSION_DENIED,
        message=str(error),
        details=[packed],
    )
    trailers = (
        (_STATUS_DETAILS_TRAILER, status.SerializeToString()),
        (RECEIPT_TRAILER, error.receipt_jws),
    )
    code = grpc.StatusCode.RESOURCE_EXHAUSTED if limited else grpc.StatusCode.PERMISSION_DENIED
    return _Status(code, str(error), trailers)


def status_for(error: BrokerError) -> tuple[grpc.StatusCode, str]:
    for kind, code, fixed in _CODES:
        if isinstance(error, kind):
            return code, fixed if fixed is not None else str(error)
    return grpc.StatusCode.INTERNAL, "internal error"


F = TypeVar("F", bound=Callable[..., Any])


def maps_errors(method: F) -> F:
    """Wraps a servicer method so every failure leaves as exactly one documented status."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        denial: grpc.Status | None = None
        code, message = grpc.StatusCode.INTERNAL, "internal error"
        try:
            return method(self, request, context)
        except AccessDeniedError as e:
            denial = denial_status(e)
        except BrokerError as e:
            code, message = status_for(e)
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
                log.error("%s failed: %s", method.__name__, e)
            elif code == grpc.StatusCode.UNAUTHENTICATED:
                log.warning("unauthenticated %s: %s", method.__name__, e)
        except Exception:
            log.exception("unexpected failure in %s", method.__name__)
        # Abort outside the except blocks: the abort then chains no exception, so nothing of
        # the failure (whose message may quote the request) reaches a tracing interceptor.
        if denial is not None:
            context.abort_with_status(denial)
        context.abort(code, message)
        return None  # not reached: abort raises

    return wrapper  # type: ignore[return-value]
