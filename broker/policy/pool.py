"""The embedded backend with a decision deadline: OPA in worker processes the broker can kill.

No engine can be interrupted mid-evaluation, and a thread cannot be killed: a policy that
loops (say, a comprehension over numbers.range(1, 1e9)) would hold a thread, a core and
ever more memory for as long as it runs. So every evaluation runs in a worker process
(broker/policy/worker.py) holding its own compiled engine. A worker that misses the
deadline is killed, which frees its CPU and memory at once, and a replacement is started
in the background; the request is denied with DecisionTimeoutError. A worker that dies is
replaced the same way. Waiting for a free worker counts against the same deadline.

Workers are started with `python -m`, never forked: the broker holds gRPC threads and the Go
runtime, neither of which survives fork().
"""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from broker.errors import DecisionTimeoutError, PolicyError, PolicyLoadError
from broker.models import JSON
from broker.policy.bundle import PolicyBundle
from broker.policy.channel import Channel, ChannelClosedError
from broker.policy.engine import DocumentEngine
from broker.policy.metrics import PolicyMetrics

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
DEFAULT_TIMEOUT_SECONDS = 0.5
# Starting a worker is an interpreter start, an import and a compile: about 0.3 s here. A
# bundle that takes longer than this to compile (or whose integrity rules loop) is refused.
START_TIMEOUT_SECONDS = 20.0
# Waits between attempts to replace a worker that could not be started.
RESPAWN_BACKOFF_SECONDS = (0.1, 0.5, 1.0, 5.0)
WORKER_COMMAND = (sys.executable, "-m", "broker.policy.worker")


class _Worker:
    """One worker process and the parent's end of its pipes."""

    def __init__(self) -> None:
        # The same interpreter, our own module. A session of its own: a Ctrl-C meant for
        # the broker does not kill its workers under in-flight requests (the broker stops
        # them, and they exit by themselves if the broker dies: see worker.py).
        self._process = subprocess.Popen(
            WORKER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:  # never with PIPE; checked, not assumed
            self.kill()
            raise PolicyLoadError("the policy worker has no pipes")
        self._channel = Channel(stdout.fileno(), stdin.fileno())

    @classmethod
    def start(cls, bundle_message: JSON, deadline: float) -> _Worker:
        """A worker with the bundle compiled, or PolicyLoadError (and no process left)."""
        worker = cls()
        try:
            worker.load(bundle_message, deadline)
        except BaseException:
            worker.kill()
            raise
        return worker

    def load(self, bundle_message: JSON, deadline: float) -> None:
        self.send_bundle(bundle_message, deadline)
        self.await_ready(deadline)

    def send_bundle(self, bundle_message: JSON, deadline: float) -> None:
        try:
            self._channel.send(bundle_message, deadline)
        except DecisionTimeoutError as e:
            raise PolicyLoadError("the policy worker did not take the bundle in time") from e
        except ChannelClosedError as e:
            raise PolicyLoadError(f"the policy worker failed before compiling: {e}") from e

    def await_ready(self, deadline: float) -> None:
        try:
            reply = self._channel.receive(deadline)
        except DecisionTimeoutError as e:
            raise PolicyLoadError("the policy worker did not compile the bundle in time") from e
        except ChannelClosedError as e:
            raise PolicyLoadError(f"the policy worker failed while compiling: {e}") from e
        if not isinstance(reply, dict) or reply.get("ready") is not True:
            error = reply.get("error") if isinstance(reply, dict) else None
            raise PolicyLoadError(str(error or f"unexpected answer from the worker: {reply!r}"))

    def call(self, request: JSON, deadline: float) -> Any:
        self._channel.send(request, deadline)
        return self._channel.receive(deadline)

    def stop_process(self) -> None:
        """Kills the process but leaves the pipes to whoever is reading them (end of file)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()

    def kill(self) -> None:
        self.stop_process()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()


class IsolatedEngine(DocumentEngine):
    """A PolicyEngine whose every evaluation ends by its deadline (see the module doc).

    Construction starts the workers and compiles the bundle in each of them; a bundle that
    does not compile, or takes longer than `start_timeout`, raises PolicyLoadError."""

    def __init__(
        self,
        bundle: PolicyBundle,
        *,
        workers: int = DEFAULT_WORKERS,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        start_timeout: float = START_TIMEOUT_SECONDS,
        metrics: PolicyMetrics | None = None,
    ) -> None:
        if workers < 1 or timeout <= 0:
            raise ValueError("an isolated engine needs at least one worker and a positive timeout")
        self._revision = bundle.revision
        self._timeout = timeout
        self._start_timeout = start_timeout
        self._metrics = metrics or PolicyMetrics.in_memory()
        self._bundle_message: JSON = {"modules": dict(bundle.modules), "data": dict(bundle.data)}
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[_Worker] = set()
        self._closed = threading.Event()
        self._start_all(workers)

    @property
    def revision(self) -> str:
        return self._revision

    @property
    def timeout(self) -> float:
        return self._timeout

    def evaluate(self, document: str, policy_input: JSON) -> Any:
        """The raw value of data.<document> (for `broker policy check`): PolicyError if it is
        undefined or fails, DecisionTimeoutError past the deadline."""
        return self._evaluate(document, policy_input)

    def close(self) -> None:
        """Stops every worker; an evaluation still running raises PolicyError.

        A busy worker's pipes are closed by the thread using it, never under its feet (a
        descriptor closed here could be reused by then)."""
        self._closed.set()
        with self._lock:
            workers, self._workers = self._workers, set()
        idle = set()
        while True:
            try:
                idle.add(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in workers:
            if worker in idle:
                worker.kill()
            else:
                worker.stop_process()

    # -- internals ----------------------------------------------------------------------

    def _start_all(self, count: int) -> None:
        deadline = time.monotonic() + self._start_timeout
        started: list[_Worker] = []
        try:
            for _ in range(count):  # all start, and compile, in parallel
                started.append(_Worker())
            for worker in started:
                worker.send_bundle(self._bundle_message, deadline)
            for worker in started:
                worker.await_ready(deadline)
        except BaseException:
            for worker in started:
                worker.kill()
            raise
        with self._lock:
            self._workers.update(started)
        for worker in started:
            self._idle.put(worker)

    def _evaluate(self, document: str, policy_input: JSON) -> Any:
        deadline = time.monotonic() + self._timeout
        try:
            worker = self._idle.get(timeout=self._timeout)
        except queue.Empty:
            self._count_timeout(document)
            raise DecisionTimeoutError(
                f"data.{document}: no policy worker was free within {self._timeout} s"
            ) from None
        if self._closed.is_set():
            worker.kill()
            raise PolicyError("the policy engine is closed")
        try:
            reply = worker.call({"document": document, "input": policy_input}, deadline)
        except DecisionTimeoutError:
            self._replace(worker)
            self._count_timeout(document)
            raise DecisionTimeoutError(
                f"data.{document}: no answer within {self._timeout} s; the worker was stopped"
            ) from None
        except ChannelClosedError as e:
            self._replace(worker)
            raise PolicyError(f"data.{document}: the policy worker failed: {e}") from e
        except PolicyError:
            self._release_worker(worker)  # the input could not be encoded; nothing was sent
            raise
        self._release_worker(worker)
        return _value(document, reply)

    def _release_worker(self, worker: _Worker) -> None:
        if self._closed.is_set():
            worker.kill()
        else:
            self._idle.put(worker)

    def _count_timeout(self, document: str) -> None:
        self._metrics.decision_timeouts.add(1, {"document": document, "backend": "embedded"})

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._workers.discard(worker)
        if not self._closed.is_set():
            threading.Thread(
                target=self._respawn, name="policy-worker-respawn", daemon=True
            ).start()

    def _respawn(self) -> None:
        for attempt in range(sys.maxsize):
            if self._closed.is_set():
                return
            try:
                worker = _Worker.start(self._bundle_message, time.monotonic() + self._start_timeout)
            except (PolicyError, OSError) as e:
                pause = RESPAWN_BACKOFF_SECONDS[min(attempt, len(RESPAWN_BACKOFF_SECONDS) - 1)]
                log.error("cannot start a policy worker (retrying in %s s): %s", pause, e)
                self._closed.wait(pause)
                continue
            with self._lock:
                if not self._closed.is_set():
                    self._workers.add(worker)
                    self._idle.put(worker)
                    return
            worker.kill()
            return


def _value(document: str, reply: Any) -> Any:
    if isinstance(reply, dict):
        if "value" in reply:
            return reply["value"]
        if reply.get("undefined") is True:
            raise PolicyError(f"data.{document} is undefined for this input")
        if isinstance(reply.get("error"), str):
            raise PolicyError(f"data.{document}: {reply['error']}")
    raise PolicyError(f"data.{document}: unexpected answer from the policy worker")
