"""The decision deadline: evaluations in worker processes that are killed when they loop,
replaced, and never leave the broker waiting past its deadline."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.errors import DecisionTimeoutError, PolicyError, PolicyLoadError
from broker.policy.bundle import PolicyBundle
from broker.policy.channel import MAX_FRAME_BYTES, Channel, ChannelClosedError, encode
from broker.policy.embedded import EmbeddedEngine
from broker.policy.metrics import MemoryCounter, PolicyMetrics
from broker.policy.pool import IsolatedEngine
from tests.policy.scenario import (
    FBI_INVESTIGATOR,
    HSI_OFFICER,
    identify_input,
    loop_input,
    slow_bundle,
)


@pytest.fixture(scope="module")
def pool(bundle: PolicyBundle) -> Iterator[IsolatedEngine]:
    engine = IsolatedEngine(bundle, workers=2, timeout=5.0)
    yield engine
    engine.close()


def test_isolated_engine_decides_as_the_embedded_engine(
    pool: IsolatedEngine, engine: EmbeddedEngine, bundle: PolicyBundle
) -> None:
    assert pool.revision == bundle.revision
    for policy_input in [
        identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face"),
        identify_input(HSI_OFFICER, "immigration_enforcement", "warrant", "face"),
        {},
    ]:
        assert pool.decide(policy_input) == engine.decide(policy_input)


def test_errors_and_undefined_documents_are_policy_errors(pool: IsolatedEngine) -> None:
    bad_time = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    bad_time["context"]["now"] = "yesterday"
    with pytest.raises(PolicyError, match="parse_rfc3339"):
        pool.decide(bad_time)
    with pytest.raises(PolicyError, match=re.escape("data.broker.nothing is undefined")):
        pool.evaluate("broker.nothing", {})
    with pytest.raises(PolicyError, match="not JSON"):
        pool.decide({"x": object()})
    # None of these cost a worker: the next decision is immediate.
    assert pool.decide({}).allow is False


def test_a_looping_policy_is_stopped_at_the_deadline_and_the_engine_keeps_serving(
    policy_copy: Path,
) -> None:
    timeouts = MemoryCounter()
    engine = IsolatedEngine(
        PolicyBundle.load(slow_bundle(policy_copy), compile_now=False),
        workers=1,
        timeout=0.5,
        metrics=PolicyMetrics(decision_timeouts=timeouts),
    )
    try:
        normal = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
        assert engine.decide(normal).allow
        started = time.monotonic()
        with pytest.raises(DecisionTimeoutError, match=re.escape("no answer within 0.5 s")):
            engine.decide(loop_input())
        assert time.monotonic() - started < 2.0
        assert timeouts.count(document="broker.decision", backend="embedded") == 1
        # The only worker was killed; the next request waits for its replacement, which
        # starts in well under the deadline here, or is itself refused in time.
        answered = None
        for _ in range(20):
            try:
                answered = engine.decide(normal)
                break
            except DecisionTimeoutError:
                continue
        assert answered is not None and answered.allow
    finally:
        engine.close()


def test_a_dead_worker_is_a_policy_error_and_is_replaced(bundle: PolicyBundle) -> None:
    before = set(_worker_pids())
    engine = IsolatedEngine(bundle, workers=1, timeout=5.0)
    try:
        pids = set(_worker_pids()) - before
        assert len(pids) == 1
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        with pytest.raises(PolicyError, match="the policy worker failed"):
            engine.decide({})
        assert engine.decide({}).allow is False, "a replacement answers"
    finally:
        engine.close()


def test_closing_stops_every_worker(bundle: PolicyBundle) -> None:
    before = set(_worker_pids())
    engine = IsolatedEngine(bundle, workers=2, timeout=5.0)
    started = set(_worker_pids()) - before
    assert len(started) == 2
    engine.close()
    assert not (set(_worker_pids()) & started)
    with pytest.raises(PolicyError):
        engine.decide({})


def test_closing_under_a_running_evaluation_ends_it_with_a_policy_error(
    policy_copy: Path,
) -> None:
    engine = IsolatedEngine(
        PolicyBundle.load(slow_bundle(policy_copy), compile_now=False), workers=1, timeout=60
    )
    outcome: list[BaseException] = []

    def ask() -> None:
        try:
            engine.decide(loop_input())
        except BaseException as e:  # recorded for the assertion
            outcome.append(e)

    caller = threading.Thread(target=ask)
    caller.start()
    time.sleep(0.3)  # the worker is now in the loop
    engine.close()
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], PolicyError)
    assert not isinstance(outcome[0], DecisionTimeoutError)


def test_a_bundle_that_does_not_compile_is_a_load_error(policy_copy: Path) -> None:
    (policy_copy / "unsafe.rego").write_text("package broker.unsafe\n\nallow if { y == 1 }\n")
    before = set(_worker_pids())
    with pytest.raises(PolicyLoadError, match=re.escape("unsafe.rego")):
        IsolatedEngine(PolicyBundle.load(policy_copy, compile_now=False), workers=2)
    assert set(_worker_pids()) <= before, "no worker is left behind"


def test_a_bundle_whose_integrity_rules_fail_is_a_load_error(policy_copy: Path) -> None:
    jurisdictions = policy_copy / "jurisdictions.json"
    jurisdictions.write_text(
        jurisdictions.read_text().replace('"parent": "US-OR"', '"parent": "US-ZZ"')
    )
    with pytest.raises(PolicyLoadError, match="US-ZZ is not a known jurisdiction"):
        IsolatedEngine(PolicyBundle.load(policy_copy, compile_now=False), workers=1)


def test_a_bundle_that_compiles_too_slowly_is_a_load_error(bundle: PolicyBundle) -> None:
    with pytest.raises(PolicyLoadError, match="did not compile the bundle in time"):
        IsolatedEngine(bundle, workers=1, start_timeout=0.01)


def test_workers_die_with_the_broker(tmp_path: Path) -> None:
    """A worker stuck in a loop when its broker is killed does not outlive it."""
    slow = slow_bundle(_copy_policies(tmp_path))
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from broker.policy.bundle import PolicyBundle\n"
        "from broker.policy.pool import IsolatedEngine\n"
        f"engine = IsolatedEngine(PolicyBundle.load(Path({str(slow)!r})), workers=1, timeout=60)\n"
        "print('ready', flush=True)\n"
        f"engine.decide({loop_input()!r})\n"
    )
    broker = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert broker.stdout is not None and broker.stdout.readline().strip() == "ready"
        children = _worker_pids(parent=broker.pid)
        assert len(children) == 1
        time.sleep(0.3)  # the worker is now evaluating the loop
        broker.kill()
        broker.wait()
        deadline = time.monotonic() + 5
        while _alive(children[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(children[0])
    finally:
        broker.kill()
        broker.wait()


# --- The channel ---


def test_frames_round_trip_through_a_pipe() -> None:
    read_fd, write_fd = os.pipe()
    try:
        channel = Channel(read_fd, write_fd)
        message = {"document": "broker.decision", "input": {"ü": [1, 2.5, None, True]}}
        channel.send(message, time.monotonic() + 1)
        assert channel.receive(time.monotonic() + 1) == message
        with pytest.raises(DecisionTimeoutError):
            channel.receive(time.monotonic() + 0.05)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_closed_or_garbled_channel_is_closed() -> None:
    read_fd, write_fd = os.pipe()
    channel = Channel(read_fd, write_fd)
    os.write(write_fd, (MAX_FRAME_BYTES + 1).to_bytes(4, "big"))
    with pytest.raises(ChannelClosedError, match="exceeds"):
        channel.receive(time.monotonic() + 1)
    os.write(write_fd, b"\x00\x00\x00\x03{{{")
    with pytest.raises(ChannelClosedError, match="not JSON"):
        channel.receive(time.monotonic() + 1)
    os.close(write_fd)
    with pytest.raises(ChannelClosedError, match="closed its end"):
        channel.receive(time.monotonic() + 1)
    os.close(read_fd)


def test_what_is_not_json_is_never_sent() -> None:
    with pytest.raises(PolicyError, match="not JSON"):
        encode({"x": float("nan")})


# --- helpers ---


def _copy_policies(tmp_path: Path) -> Path:
    import shutil

    from tests.policy.scenario import POLICIES_DIR

    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target)
    return target


def _worker_pids(parent: int | None = None) -> list[int]:
    """Policy worker processes (children of `parent`, by default of this process)."""
    parent = os.getpid() if parent is None else parent
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        ppid = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")
        )
        if ppid == parent and b"broker.policy.worker" in command and "State:\tZ" not in status:
            pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status
