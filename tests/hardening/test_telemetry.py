"""OpenTelemetry: the spans of a request (in-memory exporter), the metrics (in-memory reader),
configuration by OTEL_* variables, and no template, token or personal data anywhere."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from broker.errors import ConfigError
from broker.telemetry import Telemetry, from_environment
from tests.hardening.harness import (
    bearer,
    broker_config,
    identify_request,
    justification,
    mint,
    running_broker,
)

OFFICER = "officer.zq81"
CASE = "CASE-7F3A9"
REFERENCE = "WARRANT-55X1"


class Observed:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[self.metrics]))

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def metrics_json(self) -> str:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return data.to_json()


@pytest.fixture(scope="module")
def observed(matcher, gallery, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    seen = Observed()
    config = broker_config(tmp_path_factory.mktemp("telemetry") / "b", matcher.address)
    probe = gallery.probe("us-fbi", 12, "face")
    token = mint(sub=OFFICER)
    allowed = identify_request(probe, justification=justification(case_id=CASE), max_results=3)
    allowed.justification.legal_basis.reference = REFERENCE
    denied = identify_request(probe, justification=justification(purpose="border_control"))
    with running_broker(config, telemetry=seen.telemetry) as broker, broker.channel() as channel:
        stub = broker.stub(channel)
        reply = stub.Identify(allowed, metadata=bearer(token), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Identify(denied, metadata=bearer(token), timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.RpcError) as unauthenticated:
            stub.Identify(allowed, metadata=bearer("forged"), timeout=10)
        assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED
        yield seen, {"token": token, "probe": probe, "reply": reply}


def traces(spans: tuple[ReadableSpan, ...]) -> list[list[ReadableSpan]]:
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span)
    return list(by_trace.values())


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[str]:
    assert parent.context is not None
    return [
        s.name
        for s in sorted(spans, key=lambda s: s.start_time or 0)
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_an_allowed_identify_is_one_trace_with_a_child_span_per_step(observed) -> None:
    seen, _ = observed
    allowed = traces(seen.spans.get_finished_spans())[0]
    (root,) = [s for s in allowed if s.parent is None]
    assert root.kind == SpanKind.SERVER
    assert root.name == "/biometric.broker.v1.BiometricBroker/Identify"
    assert root.attributes is not None and root.attributes["rpc.grpc.status_code"] == 0
    assert children(allowed, root) == [
        "broker.authentication",
        "broker.decision",
        "broker.audit_append",  # the decision entry, durable before the matcher is called
        "broker.matcher",
        "broker.release",
        "broker.audit_append",  # the outcome entry
    ]
    (decision,) = [s for s in allowed if s.name == "broker.decision"]
    assert children(allowed, decision) == ["broker.rate_limit"]
    assert decision.attributes is not None
    assert decision.attributes["broker.decision"] == "allow"
    assert list(decision.attributes["broker.reasons"]) == ["test_agreement"]
    first_append = next(s for s in allowed if s.name == "broker.audit_append")
    assert children(allowed, first_append) == ["broker.receipt"]
    (matcher,) = [s for s in allowed if s.name == "broker.matcher"]
    assert matcher.attributes is not None and matcher.attributes["matcher.call"] == "search"


def test_a_denial_and_an_unauthenticated_call_have_their_own_traces(observed) -> None:
    seen, _ = observed
    _, denied, unauthenticated = traces(seen.spans.get_finished_spans())
    (root,) = [s for s in denied if s.parent is None]
    assert children(denied, root) == [
        "broker.authentication",
        "broker.decision",
        "broker.audit_append",
    ]
    (decision,) = [s for s in denied if s.name == "broker.decision"]
    assert decision.attributes is not None and decision.attributes["broker.decision"] == "deny"
    (root,) = [s for s in unauthenticated if s.parent is None]
    assert root.attributes is not None and root.attributes["rpc.grpc.status_code"] == 16
    assert children(unauthenticated, root) == ["broker.authentication"]
    (authentication,) = [s for s in unauthenticated if s.name == "broker.authentication"]
    assert authentication.status.description == "AuthenticationError"


def test_metrics_count_decisions_and_time_every_step(observed) -> None:
    seen, _ = observed
    decisions = {
        (p.attributes["outcome"], p.attributes["reason"]): p.value
        for p in seen.points("broker.decisions")
    }
    assert decisions == {("allow", "test_agreement"): 1, ("deny", "not_permitted"): 1}
    steps = {
        (p.attributes["step"], p.attributes["outcome"]): p.count
        for p in seen.points("broker.step.duration")
    }
    assert steps[("authentication", "ok")] == 2
    assert steps[("authentication", "error")] == 1
    assert steps[("decision", "ok")] == 2
    assert steps[("audit_append", "ok")] == 3
    assert steps[("receipt", "ok")] == 2
    assert steps[("matcher", "ok")] == 1
    assert steps[("release", "ok")] == 1
    (matcher,) = seen.points("broker.matcher.duration")
    assert dict(matcher.attributes) == {"call": "search", "outcome": "ok"}
    assert matcher.count == 1 and matcher.sum > 0
    (fsync,) = seen.points("broker.audit.fsync.duration")
    assert fsync.count >= 3  # at least one per durable entry of the three requests
    (reloads,) = seen.points("broker.policy.reloads")
    assert (dict(reloads.attributes), reloads.value) == ({"outcome": "loaded"}, 1)


def test_no_template_token_or_personal_data_in_any_span_or_metric(observed) -> None:
    seen, call = observed
    exported = "\n".join(s.to_json() for s in seen.spans.get_finished_spans())
    exported += seen.metrics_json()
    probe: np.ndarray = call["probe"]
    unit = (probe / np.linalg.norm(probe)).astype(np.float32)
    forbidden = {
        "token": call["token"],
        "token signature": call["token"].rsplit(".", 1)[1],
        "officer": OFFICER,
        "agency": "test-agency",
        "case id": CASE,
        "legal basis reference": REFERENCE,
        "template digest": hashlib.sha256(unit.astype("<f4").tobytes()).hexdigest(),
        "receipt": call["reply"].decision_receipt.jws.rsplit(".", 1)[1],
        "record id": call["reply"].candidates[0].record_id,
    }
    forbidden.update({f"probe[{i}]": repr(float(probe[i]))[:10] for i in range(3)})
    forbidden.update({f"unit probe[{i}]": repr(float(unit[i]))[:10] for i in range(3)})
    for what, value in forbidden.items():
        assert value not in exported, what


# -- configuration by the standard variables -----------------------------------------------


def test_nothing_is_exported_unless_asked_for() -> None:
    assert from_environment({}).server_interceptors() == []
    assert (
        from_environment(
            {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}
        ).server_interceptors()
        == []
    )


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "console", "OTEL_METRICS_EXPORTER": "none"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"},
        {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
    ],
)
def test_exporters_are_built_from_otel_variables(env: dict[str, str]) -> None:
    telemetry = from_environment(env)
    try:
        assert len(telemetry.server_interceptors()) == 1
    finally:
        telemetry.shutdown()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unsupported ['zipkin']"),
        (
            {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            "only the grpc protocol is installed",
        ),
    ],
)
def test_unsupported_otel_settings_stop_the_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        from_environment(env)
    assert message in str(refused.value)


def test_an_unknown_step_name_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown step"), Telemetry.disabled().step("officer"):
        pass
