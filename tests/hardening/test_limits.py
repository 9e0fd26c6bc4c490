"""Limits on every request, seen by a gRPC client of a running broker: each malformed field
is INVALID_ARGUMENT naming it, oversized messages and used-up rates are RESOURCE_EXHAUSTED,
and none of them reaches the policy or the audit log (a rate-limited request is the
exception: it was decided, so its denial is receipted and logged)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from biometric.broker.v1 import broker_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from broker.audit.verify import verify_log
from broker.errors import PolicyError
from broker.limits import (
    CASE_WINDOW_SECONDS,
    OFFICER_WINDOW_SECONDS,
    RateLimiter,
)
from broker.models import RateLimit
from broker.policy.decision import parse_decision
from broker.status import RECEIPT_TRAILER
from tests.hardening.harness import (
    Broker,
    bearer,
    broker_config,
    identify_request,
    justification,
    mint,
    running_broker,
    write_policy,
)

ONES = [1.0] * 512


@pytest.fixture(scope="module")
def broker(matcher, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    config = broker_config(tmp_path_factory.mktemp("limits") / "b", matcher.address)
    with running_broker(config) as running:
        yield running


def call(broker: Broker, method: str, request: Any, token: str | None = None) -> grpc.RpcError:
    with broker.channel() as channel:
        stub = broker.stub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            getattr(stub, method)(request, metadata=bearer(token or mint()), timeout=10)
    return refused.value


def stamp(seconds: int, nanos: int = 0) -> Timestamp:
    return Timestamp(seconds=seconds, nanos=nanos)


def enroll(**provenance: Any) -> broker_pb2.EnrollRequest:
    fields: dict[str, Any] = {
        "origin_jurisdiction": "US",
        "source_agency": "test-agency",
        "consent_scopes": ["criminal_investigation"],
        "captured_at": stamp(1_700_000_000),
        "retain_until": stamp(1_900_000_000),
    }
    fields.update(provenance)
    return broker_pb2.EnrollRequest(
        justification=justification(),
        record_id="rec-1",
        modality=broker_pb2.MODALITY_FACE,
        template=ONES,
        provenance=broker_pb2.Provenance(**fields),
    )


MALFORMED: list[tuple[str, str, Any, str]] = [
    # (case, method, request, what the status must name)
    ("probe_too_short", "Identify", identify_request(ONES[:3]), "probe: expected 512 values"),
    ("probe_nan", "Identify", identify_request([float("nan"), *ONES[1:]]), "probe: contains NaN"),
    ("probe_infinite", "Identify", identify_request([float("inf"), *ONES[1:]]), "probe: contains"),
    ("probe_zero", "Identify", identify_request([0.0] * 512), "probe: must not be the zero"),
    ("k_zero", "Identify", identify_request(ONES, max_results=0), "max_results: must be"),
    ("k_too_big", "Identify", identify_request(ONES, max_results=101), "max_results: must be"),
    ("modality_unknown", "Identify", identify_request(ONES, modality=9), "modality: must be"),
    (
        "purpose_too_long",
        "Identify",
        identify_request(ONES, justification=justification(purpose="p" * 129)),
        "justification.purpose: longer than 128",
    ),
    (
        "case_id_control_characters",
        "Identify",
        identify_request(ONES, justification=justification(case_id="C-1\x00")),
        "justification.case_id: contains control characters",
    ),
    (
        "justification_missing",
        "Identify",
        broker_pb2.IdentifyRequest(modality=1, probe=ONES, max_results=5),
        "justification: is required",
    ),
    (
        "too_many_target_origins",
        "Identify",
        identify_request(ONES, target_origins=["US"] * 33),
        "target_origins: at most 32",
    ),
    (
        "too_many_filters",
        "Identify",
        identify_request(ONES, filters={f"k{i}": "v" for i in range(9)}),
        "filters: at most 8",
    ),
    (
        "filter_value_too_long",
        "Identify",
        identify_request(ONES, filters={"source_agency": "x" * 257}),
        "filters['source_agency']: longer than 256",
    ),
    (
        "record_id_bad",
        "Verify",
        broker_pb2.VerifyRequest(
            justification=justification(), record_id="../etc", modality=1, probe=ONES
        ),
        "record_id: must be",
    ),
    (
        "timestamp_beyond_year_9999",
        "Enroll",
        enroll(captured_at=stamp(10**15)),
        "provenance.captured_at: outside",
    ),
    (
        "timestamp_bad_nanos",
        "Enroll",
        enroll(retain_until=stamp(1_900_000_000, -5)),
        "provenance.retain_until: nanos",
    ),
    (
        "lineage_too_long",
        "Enroll",
        enroll(lineage=["a"] * 33),
        "provenance.lineage: at most 32",
    ),
]


@pytest.mark.parametrize(
    ("method", "request_message", "names"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_each_malformed_field_is_invalid_argument_naming_it(
    broker: Broker, method: str, request_message: Any, names: str
) -> None:
    before = verify_log(broker.audit_dir).size
    error = call(broker, method, request_message)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert names in (error.details() or "")
    assert verify_log(broker.audit_dir).size == before


def test_bytes_that_are_not_a_request_are_invalid_argument(broker: Broker) -> None:
    with broker.channel() as channel:
        raw = channel.unary_unary("/biometric.broker.v1.BiometricBroker/Identify")
        for garbage in (b"\xff\xff\xff\xff", b"\x0a\x05abc", b"\x22\x80\x80\x80\x80\x80\x80"):
            with pytest.raises(grpc.RpcError) as refused:
                raw(garbage, metadata=bearer(mint()), timeout=10)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "not a valid biometric.broker.v1.IdentifyRequest" in (
                refused.value.details() or ""
            )


def test_an_oversized_message_is_resource_exhausted(broker: Broker) -> None:
    huge = identify_request(np.ones(300_000, dtype=np.float32))
    error = call(broker, "Identify", huge)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_oversized_metadata_is_refused(broker: Broker) -> None:
    error = call(broker, "Identify", identify_request(ONES), token="x" * 40_000)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Below gRPC's metadata cap, the verifier's own cap on tokens still applies.
    error = call(broker, "Identify", identify_request(ONES), token="x" * 9_000)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "too long" in (error.details() or "")


# -- rates --------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_officer_window_is_exact_and_slides() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limit = RateLimit(per_officer_per_minute=3)
    for _ in range(3):
        assert limiter.admit("a", "o", "c", limit) is None
        clock.now += 10
    exceeded = limiter.admit("a", "o", "c", limit)
    assert exceeded is not None and exceeded.limit == "per_officer_per_minute"
    assert "3 requests per minute per officer" in exceeded.message()
    clock.now = OFFICER_WINDOW_SECONDS  # the first request (t=0) leaves the window
    assert limiter.admit("a", "o", "c", limit) is None
    assert limiter.admit("a", "o", "c", limit) is not None
    assert limiter.admit("a", "other", "c", limit) is None  # per officer
    assert limiter.admit("other-agency", "o", "c", limit) is None  # officer ids are per agency


def test_the_case_window_counts_across_officers() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limit = RateLimit(per_case_per_hour=2)
    assert limiter.admit("a", "o1", "case", limit) is None
    assert limiter.admit("a", "o2", "case", limit) is None
    exceeded = limiter.admit("a", "o3", "case", limit)
    assert exceeded is not None and exceeded.limit == "per_case_per_hour"
    clock.now += CASE_WINDOW_SECONDS
    assert limiter.admit("a", "o3", "case", limit) is None


def test_a_refused_request_counts_against_no_limit() -> None:
    limiter = RateLimiter(clock=Clock())
    both = RateLimit(per_officer_per_minute=1, per_case_per_hour=5)
    assert limiter.admit("a", "o", "case", both) is None
    for _ in range(10):
        assert limiter.admit("a", "o", "case", both) is not None  # officer limit
    # The case saw one admitted request, not eleven: four more officers get through.
    assert all(limiter.admit("a", f"o{i}", "case", both) is None for i in range(4))
    assert limiter.admit("a", "o9", "case", both) is not None


def test_idle_keys_are_forgotten_and_the_table_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr("broker.limits.MAX_TRACKED_KEYS", 4)
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limit = RateLimit(per_officer_per_minute=5)
    for i in range(4):
        assert limiter.admit("a", f"o{i}", "c", limit) is None
    refused = limiter.admit("a", "o9", "c", limit)
    assert refused is not None and refused.limit == "tracked_keys"
    clock.now += OFFICER_WINDOW_SECONDS + 1
    assert limiter.admit("a", "o9", "c", limit) is None  # the idle ones were swept
    assert limiter.tracked() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "expected some of"),
        ({"per_officer_per_day": 5}, "expected some of"),
        ({"per_officer_per_minute": 0}, "within 1..100000"),
        ({"per_officer_per_minute": 2.5}, "within 1..100000"),
        ({"per_case_per_hour": True}, "within 1..100000"),
        ("30/min", "expected an object"),
    ],
)
def test_a_malformed_rate_limit_obligation_is_a_policy_error(value: Any, message: str) -> None:
    document = {"allow": True, "reasons": [], "obligations": {"rate_limit": value}}
    with pytest.raises(PolicyError, match=message):
        parse_decision(document, "enroll")


def receipt_claims(jws: str) -> dict[str, Any]:
    payload = jws.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return decoded


def test_rates_from_the_policy_are_enforced_with_resource_exhausted_and_receipted(
    matcher, gallery, tmp_path: Path
) -> None:
    config = broker_config(tmp_path / "b", matcher.address)
    write_policy(config.policy_dir, {"per_officer_per_minute": 3, "per_case_per_hour": 4})
    probe = gallery.probe("us-fbi", 12, "face")
    receipts: list[dict[str, Any]] = []
    details: list[str] = []
    with running_broker(config) as broker, broker.channel() as channel:
        stub = broker.stub(channel)

        def identify(officer: str, case: str) -> grpc.StatusCode:
            request = identify_request(probe, justification=justification(case_id=case))
            try:
                stub.Identify(request, metadata=bearer(mint(sub=officer)), timeout=10)
            except grpc.RpcError as e:
                details.append(e.details() or "")
                receipts.append(receipt_claims(dict(e.trailing_metadata())[RECEIPT_TRAILER]))
                return e.code()
            return grpc.StatusCode.OK

        ok, limited = grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED
        before = verify_log(broker.audit_dir).size
        # o1 reaches the officer limit; the refused fourth request is not counted for case-a.
        assert [identify("o1", "case-a") for _ in range(4)] == [ok, ok, ok, limited]
        assert identify("o2", "case-b") == ok
        assert identify("o3", "case-a") == ok  # case-a's fourth admitted request
        assert identify("o4", "case-a") == limited  # the case limit, for a fresh officer
        # Every admitted request logged a decision and an outcome; every refusal its denial.
        assert verify_log(broker.audit_dir).size - before == 5 * 2 + 2
    assert all("rate limit of" in d for d in details), details
    assert [r["decision"] for r in receipts] == ["deny", "deny"]
    assert [[reason["code"] for reason in r["reasons"]] for r in receipts] == [
        ["rate_limited"],
        ["rate_limited"],
    ]
    assert "per minute per officer" in receipts[0]["reasons"][0]["message"]
    assert "per hour per case" in receipts[1]["reasons"][0]["message"]
