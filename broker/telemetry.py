"""Traces and metrics (OpenTelemetry): one span per request, a child span per step, and the
metrics an operator needs: decisions by outcome and reason, latency per step, fsync and
matcher latency, policy reloads.

What may appear in a span or a metric is fixed here, and it is never personal: operation
names, outcomes, reason codes (the policy's vocabulary, not its messages), step names, gRPC
status codes, log sequence numbers and the policy revision. Never a template or its digest, a
token, an officer, an agency, a case id, a legal-basis reference or a record id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.metrics import Meter, MeterProvider, NoOpMeterProvider
from opentelemetry.trace import Span, Status, StatusCode, Tracer, TracerProvider

from broker.errors import ConfigError
from broker.models import Decision, Operation

SCOPE = "biometric-broker"
# Seconds; from 100 µs (a cached decision) to 10 s (a matcher deadline far exceeded).
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
STEPS = frozenset(
    {
        "authentication",
        "decision",
        "receipt",
        "audit_append",
        "matcher",
        "release",
        "rate_limit",
    }
)


class Telemetry:
    """The broker's instruments, bound to one tracer and one meter provider."""

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        shutdown: Callable[[], None] | None = None,
    ) -> None:
        self._tracing = tracer_provider is not None
        self._enabled = self._tracing or meter_provider is not None
        self._tracer_provider = tracer_provider or trace.NoOpTracerProvider()
        self._tracer: Tracer = self._tracer_provider.get_tracer(SCOPE)
        meter: Meter = (meter_provider or NoOpMeterProvider()).get_meter(SCOPE)
        self._shutdown = shutdown
        self._decisions = meter.create_counter(
            "broker.decisions",
            unit="{decision}",
            description="Decisions recorded, by operation, outcome (allow/deny) and reason code",
        )
        self._steps = meter.create_histogram(
            "broker.step.duration",
            unit="s",
            description="Time spent in each step of a request",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self._fsync = meter.create_histogram(
            "broker.audit.fsync.duration",
            unit="s",
            description="Time for the audit log's fsync calls",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self._matcher = meter.create_histogram(
            "broker.matcher.duration",
            unit="s",
            description="Matcher call latency, by call and outcome",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )
        self._reloads = meter.create_counter(
            "broker.policy.reloads",
            unit="{reload}",
            description="Policy bundle loads, by outcome (loaded/refused)",
        )

    @classmethod
    def disabled(cls) -> Telemetry:
        return cls()

    # -- spans and step latencies ---------------------------------------------------------

    @contextmanager
    def step(self, name: str, **attributes: str | int) -> Iterator[Span]:
        """A child span of the current request, timed into broker.step.duration."""
        if name not in STEPS:
            raise ValueError(f"unknown step {name!r}")
        if not self._enabled:
            yield trace.INVALID_SPAN  # nothing to record: no clock reads, no instruments
            return
        outcome = "ok"
        start = time.perf_counter()
        # The span records the exception's type only: messages may quote request fields.
        with self._tracer.start_as_current_span(
            f"broker.{name}",
            attributes={"broker.step": name, **attributes},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield span
            except BaseException as e:
                outcome = "error"
                span.set_status(Status(StatusCode.ERROR, type(e).__name__))
                raise
            finally:
                elapsed = time.perf_counter() - start
                self._steps.record(elapsed, {"step": name, "outcome": outcome})
                if name == "matcher":
                    call = str(attributes.get("matcher.call", "unknown"))
                    self._matcher.record(elapsed, {"call": call, "outcome": outcome})

    # -- metrics -----------------------------------------------------------------------------

    def record_decision(self, operation: Operation, decision: Decision, span: Span) -> None:
        outcome = "allow" if decision.allow else "deny"
        codes = sorted({r.code for r in decision.reasons}) or ["none"]
        for code in codes:
            self._decisions.add(
                1, {"operation": str(operation), "outcome": outcome, "reason": code}
            )
        span.set_attribute("broker.decision", outcome)
        span.set_attribute("broker.reasons", codes)

    def record_policy_load(self, outcome: str) -> None:
        """outcome: "loaded" or "refused"; called at start and on every reload."""
        self._reloads.add(1, {"outcome": outcome})

    def timed_fsync(self, fsync: Callable[[int], None]) -> Callable[[int], None]:
        if not self._enabled:
            return fsync

        def timed(fd: int) -> None:
            start = time.perf_counter()
            try:
                fsync(fd)
            finally:
                self._fsync.record(time.perf_counter() - start)

        return timed

    # -- wiring -----------------------------------------------------------------------------

    def server_interceptors(self) -> list[grpc.ServerInterceptor]:
        """The request span: opentelemetry-instrumentation-grpc's server interceptor, which
        records method, status code and peer address, never metadata values or messages.
        None when tracing is off, so an untraced broker pays nothing for it."""
        if not self._tracing:
            return []
        from opentelemetry.instrumentation.grpc import server_interceptor

        interceptor: grpc.ServerInterceptor = server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=self._tracer_provider
        )
        return [interceptor]

    def shutdown(self) -> None:
        """Flushes and stops the exporters."""
        if self._shutdown is not None:
            self._shutdown()


def from_environment(
    env: Mapping[str, str] | None = None, *, service_instance: str = ""
) -> Telemetry:
    """Builds exporters from the standard OTEL_* variables.

    Exporting is opt-in: OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER name the exporters
    (`otlp`, `console`, `none`); when they are unset, `otlp` is used if an
    OTEL_EXPORTER_OTLP_*ENDPOINT is set and nothing otherwise, so a broker without a
    collector does not retry one forever. OTEL_SDK_DISABLED=true turns everything off. The
    OTLP exporter (gRPC protocol) reads its own OTEL_EXPORTER_OTLP_* variables (endpoint,
    headers, certificate, timeout); the SDK reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
    OTEL_TRACES_SAMPLER, OTEL_BSP_* and OTEL_METRIC_EXPORT_INTERVAL."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return Telemetry.disabled()
    traces = _exporters(env, "TRACES")
    metrics = _exporters(env, "METRICS")
    if not traces and not metrics:
        return Telemetry.disabled()

    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    attributes: dict[str, Any] = {}
    if "OTEL_SERVICE_NAME" not in env:
        attributes["service.name"] = SCOPE
    if service_instance:
        attributes["service.instance.id"] = service_instance
    resource = Resource.create(attributes)
    tracer_provider = None
    if traces:
        tracer_provider = SdkTracerProvider(resource=resource)
        for name in traces:
            if name == "otlp":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                    OTLPSpanExporter,
                )

                tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            else:
                tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    meter_provider = None
    if metrics:
        readers: list[MetricReader] = []
        for name in metrics:
            if name == "otlp":
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                    OTLPMetricExporter,
                )

                readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
            else:
                readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
        meter_provider = SdkMeterProvider(resource=resource, metric_readers=readers)

    def shutdown() -> None:
        if tracer_provider is not None:
            tracer_provider.shutdown()
        if meter_provider is not None:
            meter_provider.shutdown()

    return Telemetry(tracer_provider, meter_provider, shutdown=shutdown)


def _exporters(env: Mapping[str, str], signal: str) -> list[str]:
    configured = env.get(f"OTEL_{signal}_EXPORTER")
    if configured is None:
        endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get(
            f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [n.strip().lower() for n in configured.split(",") if n.strip()]
    unknown = set(names) - {"otlp", "console", "none"}
    if unknown:
        raise ConfigError(
            f"OTEL_{signal}_EXPORTER: unsupported {sorted(unknown)} (otlp, console, none)"
        )
    if "otlp" in names:
        protocol = env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
        )
        if protocol != "grpc":
            raise ConfigError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: only the grpc protocol is installed"
            )
    return sorted({n for n in names if n != "none"})
