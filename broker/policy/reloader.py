"""Hot reload: keeps the newest good bundle of a policy directory in service.

Every `interval` seconds the watcher computes the directory's revision (a cheap read of the
files, no parsing). When it differs from the bundle in service and from the last bundle
refused, the new bundle is loaded, checked (broker/policy/check.py) and built into an
engine; only then is it recorded ("loaded" policy entry in the audit log) and swapped in,
atomically: a request gets the old engine or the new one, never a mix. A bundle that fails
is recorded as "refused" and the old one stays. Polling the revision sees a Kubernetes
ConfigMap update however kubelet makes it (it swaps the `..data` symlink), which
filesystem notifications on the directory itself would miss.

An engine taken out of service is closed only after `retire_after` seconds, so requests
that started with it (a search can take the matcher's whole deadline) can still release.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from broker.errors import BrokerError, PolicyError
from broker.models import JSON
from broker.policy.bundle import PolicyBundle, read_revision
from broker.policy.engine import PolicyEngine

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 1.0
# Longer than any request may hold an engine: decision + audit + matcher + release.
DEFAULT_RETIRE_AFTER_SECONDS = 60.0


class ServingEngine(PolicyEngine, Protocol):
    """An engine the watcher can take out of service."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class PolicyEvent:
    """A bundle loaded into service, or refused. `role` is "active" or "shadow"."""

    event: str
    revision: str | None
    role: str
    error: str | None = None

    def audit_body(self) -> JSON:
        """The body of the "policy" audit log entry."""
        body: JSON = {"event": self.event, "revision": self.revision}
        if self.error is not None:
            body["error"] = self.error
        if self.role != "active":
            body["role"] = self.role
        return body


class BundleWatcher:
    """One directory's bundle in service, reloaded when the directory changes.

    `build` turns a loaded bundle into a checked engine (raising PolicyError to refuse it).
    `record` is told of every load and refusal; if it raises for a load, the new engine is
    not swapped in (nothing enters service that the audit log does not record)."""

    def __init__(
        self,
        directory: Path,
        build: Callable[[PolicyBundle], ServingEngine],
        record: Callable[[PolicyEvent], None],
        *,
        role: str = "active",
        interval: float = DEFAULT_INTERVAL_SECONDS,
        retire_after: float = DEFAULT_RETIRE_AFTER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._build = build
        self._record = record
        self._role = role
        self._interval = interval
        self._retire_after = retire_after
        self._clock = clock
        self._engine: ServingEngine | None = None
        self._refused: str | None = None
        self._retired: list[tuple[float, ServingEngine]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def load_initial(self) -> PolicyEvent:
        """Loads the bundle in service now. Raises PolicyError if it is refused (and then
        polling reports it again only once the directory changes)."""
        try:
            bundle = PolicyBundle.load(self._directory, compile_now=False)
            self._engine = self._build(bundle)
        except PolicyError:
            with contextlib.suppress(PolicyError):  # unreadable: the first poll reports it
                self._refused = read_revision(self._directory)
            raise
        return PolicyEvent("loaded", bundle.revision, self._role)

    @property
    def refused_revision(self) -> str | None:
        """The revision last refused, until one is loaded (None if none, or unreadable)."""
        refused = self._refused
        return None if refused is None or refused.startswith("unreadable") else refused

    def engine(self) -> ServingEngine | None:
        """The engine in service: one reference read, so always a whole bundle."""
        return self._engine

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"policy-watch-{self._role}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stops watching and closes every engine, the one in service included."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            engines = [engine for _, engine in self._retired]
            if self._engine is not None:
                engines.append(self._engine)
            self._retired, self._engine = [], None
        for engine in engines:
            engine.close()

    def poll(self) -> PolicyEvent | None:
        """One look at the directory: loads and swaps, or refuses, or does nothing."""
        self._close_retired()
        try:
            revision = read_revision(self._directory)
        except PolicyError as e:
            return self._refuse(None, str(e))
        current = self._engine.revision if self._engine is not None else None
        if revision == current:
            self._refused = None  # back to what is in service: a later retry is news
            return None
        if revision == self._refused:
            return None
        try:
            bundle = PolicyBundle.load(self._directory, compile_now=False)
            engine = self._build(bundle)
        except PolicyError as e:
            return self._refuse(revision, str(e))
        event = PolicyEvent("loaded", bundle.revision, self._role)
        try:
            self._record(event)
        except BrokerError:
            engine.close()
            log.exception("policy %s %s not recorded, so not loaded", self._role, bundle.revision)
            return None
        with self._lock:
            old, self._engine = self._engine, engine
            if old is not None:
                self._retired.append((self._clock() + self._retire_after, old))
        self._refused = None
        log.info("policy %s: loaded revision %s (was %s)", self._role, bundle.revision, current)
        return event

    def _refuse(self, revision: str | None, error: str) -> PolicyEvent | None:
        key = revision or f"unreadable: {error}"
        if key == self._refused:
            return None  # said once; said again only when the directory changes
        self._refused = key
        event = PolicyEvent("refused", revision, self._role, error)
        log.error("policy %s: refused revision %s: %s", self._role, revision, error)
        try:
            self._record(event)
        except BrokerError:
            log.exception("could not record the refusal of policy revision %s", revision)
        return event

    def _close_retired(self) -> None:
        now = self._clock()
        with self._lock:
            due = [engine for when, engine in self._retired if when <= now]
            self._retired = [(when, engine) for when, engine in self._retired if when > now]
        for engine in due:
            engine.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.poll()
            except Exception:  # the watcher must outlive any one bad poll
                log.exception("policy %s: reload failed", self._role)
