"""The broker's policy layer, wired from its configuration: the backend, the decision
deadline, hot reload of the policy directory, and shadow mode.

    runtime = PolicyRuntime.load(PolicySettings.from_config(config))   # checks, or raises
    runtime.start(record=...)      # records the loads in the audit log, starts watching
    Pipeline(engine_provider=runtime.engine, ...)
    runtime.stop()

Backends (`policy_backend`):
- "embedded": OPA in worker processes the broker kills at the deadline (pool.py).
- "opa": an OPA server (opa.py). The bundle is checked with the embedded engine before it
  is pushed, and again through the server once pushed.
The shadow bundle, if any, is always evaluated with the embedded engine: the backends give
identical decisions (tests/policy/test_backends.py), and a candidate must never replace the
active bundle on the one OPA server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from broker.errors import PolicyError
from broker.models import JSON
from broker.policy.bundle import PolicyBundle
from broker.policy.check import check_answers
from broker.policy.engine import PolicyEngine
from broker.policy.metrics import PolicyMetrics
from broker.policy.pool import DEFAULT_TIMEOUT_SECONDS, DEFAULT_WORKERS, IsolatedEngine
from broker.policy.reloader import (
    DEFAULT_INTERVAL_SECONDS,
    BundleWatcher,
    PolicyEvent,
    ServingEngine,
)
from broker.policy.shadow import ShadowComparer, ShadowedEngine

if TYPE_CHECKING:
    from broker.config import BrokerConfig

log = logging.getLogger(__name__)

BACKENDS = frozenset({"embedded", "opa"})
POLICY_KIND = "policy"


@dataclass(frozen=True)
class PolicySettings:
    policy_dir: Path
    backend: str = "embedded"
    opa_url: str = ""
    shadow_policy_dir: Path | None = None
    decision_timeout: float = DEFAULT_TIMEOUT_SECONDS
    workers: int = DEFAULT_WORKERS
    poll_interval: float = DEFAULT_INTERVAL_SECONDS

    @classmethod
    def from_config(cls, config: BrokerConfig) -> PolicySettings:
        return cls(
            policy_dir=config.policy_dir,
            backend=config.policy_backend,
            opa_url=config.opa_url,
            shadow_policy_dir=config.shadow_policy_dir,
            decision_timeout=config.decision_timeout_seconds,
            workers=config.policy_workers,
            poll_interval=config.policy_poll_seconds,
        )


class PolicyRuntime:
    def __init__(
        self,
        settings: PolicySettings,
        *,
        metrics: PolicyMetrics | None = None,
        listeners: Sequence[Callable[[PolicyEvent], None]] = (),
    ) -> None:
        if settings.backend not in BACKENDS:
            raise PolicyError(f"policy_backend: unknown backend {settings.backend!r}")
        self._settings = settings
        self.metrics = metrics or PolicyMetrics.in_memory()
        self._listeners = tuple(listeners)
        self._record: Callable[[str, JSON], object] | None = None
        self._pending: list[PolicyEvent] = []
        self._lock = threading.Lock()
        self._last_pushed: PolicyBundle | None = None
        self._active = BundleWatcher(
            settings.policy_dir,
            self._build_active,
            self._on_event,
            interval=settings.poll_interval,
        )
        self._shadow: BundleWatcher | None = None
        self._comparer: ShadowComparer | None = None
        if settings.shadow_policy_dir is not None:
            self._shadow = BundleWatcher(
                settings.shadow_policy_dir,
                self._build_embedded,
                self._on_event,
                role="shadow",
                interval=settings.poll_interval,
            )

    @classmethod
    def load(
        cls,
        settings: PolicySettings,
        *,
        metrics: PolicyMetrics | None = None,
        listeners: Sequence[Callable[[PolicyEvent], None]] = (),
    ) -> PolicyRuntime:
        """Loads and checks the active bundle (PolicyError if it is refused: the broker does
        not start without one) and the shadow bundle (a refused one is recorded, and shadow
        mode waits for a good one)."""
        runtime = cls(settings, metrics=metrics, listeners=listeners)
        runtime._pending.append(runtime._active.load_initial())
        if runtime._shadow is not None:
            try:
                runtime._pending.append(runtime._shadow.load_initial())
            except PolicyError as e:
                revision = runtime._shadow.refused_revision
                runtime._pending.append(PolicyEvent("refused", revision, "shadow", str(e)))
            except BaseException:
                runtime.stop()
                raise
        return runtime

    @property
    def revision(self) -> str:
        return self.engine().revision

    def start(self, record: Callable[[str, JSON], object]) -> None:
        """Records the loads so far (`record(kind, body)` appends to the audit log), then
        watches the directories and, with a shadow bundle, starts comparing."""
        with self._lock:
            self._record = record
            pending, self._pending = self._pending, []
        for event in pending:
            self._on_event(event)
        if self._shadow is not None:
            self._comparer = ShadowComparer(self._shadow.engine, record, self.metrics)
            self._comparer.start()
            self._shadow.start()
        self._active.start()

    def engine(self) -> PolicyEngine:
        """The engine for one request (the pipeline's engine_provider)."""
        active = self._active.engine()
        if active is None:
            raise PolicyError("no policy bundle is in service")
        if self._comparer is not None:
            return ShadowedEngine(active, self._comparer)
        return active

    def poll(self) -> list[PolicyEvent]:
        """Looks at the directories now, as the watchers do every poll_interval."""
        watchers = [self._active] + ([self._shadow] if self._shadow is not None else [])
        return [event for watcher in watchers if (event := watcher.poll()) is not None]

    def drain_shadow(self) -> None:
        """Waits until every queued shadow comparison is recorded."""
        if self._comparer is not None:
            self._comparer.drain()

    def stop(self) -> None:
        """Finishes queued shadow comparisons, stops watching, stops every engine."""
        if self._comparer is not None:
            self._comparer.stop()
        if self._shadow is not None:
            self._shadow.stop()
        self._active.stop()

    # -- building engines ---------------------------------------------------------------

    def _build_active(self, bundle: PolicyBundle) -> ServingEngine:
        if self._settings.backend == "opa":
            return self._build_opa(bundle)
        return self._build_embedded(bundle)

    def _build_embedded(self, bundle: PolicyBundle) -> ServingEngine:
        engine = IsolatedEngine(
            bundle,
            workers=self._settings.workers,
            timeout=self._settings.decision_timeout,
            metrics=self.metrics,
        )
        try:
            check_answers(bundle, engine, parallel=self._settings.workers)
        except BaseException:
            engine.close()
            raise
        return engine

    def _build_opa(self, bundle: PolicyBundle) -> ServingEngine:
        from broker.policy.opa import OpaServerEngine

        checker = IsolatedEngine(bundle, workers=1, timeout=self._settings.decision_timeout)
        try:
            check_answers(bundle, checker)  # before anything reaches the server
        finally:
            checker.close()
        try:
            engine = OpaServerEngine(
                bundle,
                self._settings.opa_url,
                timeout=self._settings.decision_timeout,
                metrics=self.metrics,
            )
        except PolicyError:
            self._restore_opa()
            raise
        try:
            check_answers(bundle, engine, parallel=self._settings.workers)
        except BaseException:
            engine.close()
            self._restore_opa()
            raise
        self._last_pushed = bundle
        return engine

    def _restore_opa(self) -> None:
        """Pushes the bundle in service back after a failed reload, so it answers again."""
        if self._last_pushed is None:
            return
        from broker.policy.opa import OpaServerEngine

        try:
            OpaServerEngine(
                self._last_pushed, self._settings.opa_url, timeout=self._settings.decision_timeout
            ).close()
        except PolicyError:
            log.exception("cannot restore policy %s on OPA", self._last_pushed.revision)

    # -- events -------------------------------------------------------------------------

    def _on_event(self, event: PolicyEvent) -> None:
        with self._lock:
            record = self._record
            if record is None:
                self._pending.append(event)
                return
        record(POLICY_KIND, event.audit_body())  # raises for a load: nothing unrecorded
        try:
            self.metrics.bundle_loads.add(1, {"event": event.event, "role": event.role})
            for listener in self._listeners:
                listener(event)
        except Exception:  # telemetry must never undo what the log recorded
            log.exception("a policy event listener failed")
