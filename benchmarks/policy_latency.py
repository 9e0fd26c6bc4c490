"""Decision latency of each policy backend, with the shipped library.

    .venv/bin/python benchmarks/policy_latency.py [--decisions 2000]

Backends, as the broker would call them (`engine.decide(input)`, answer parsed):
- embedded, in process: the OPA engine in the broker's own process (no deadline possible);
- embedded, isolated: the broker's default, the same engine in a worker process reached
  over a pipe, with the decision deadline (what isolation costs per decision);
- opa: opa-python-client over HTTP to a server speaking OPA's REST API
  (tests/policy/opa_server.py, which evaluates with the embedded engine, so this measures
  the client, HTTP and JSON on loopback, plus the same evaluation).
Also: one release of 30 candidates per backend, and what a missed deadline costs: the time
until a replacement worker answers again.

Inputs rotate over realistic requests (a domestic face search, an immigration search, a
cross-border fingerprint search, a felony search opening an agreement between agencies).
One client thread; medians and p99 in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/policy: the scenario and the OPA REST server

from broker.errors import PolicyError  # noqa: E402 - after the path is set
from broker.models import Candidate  # noqa: E402
from broker.policy.bundle import PolicyBundle  # noqa: E402
from broker.policy.embedded import EmbeddedEngine  # noqa: E402
from broker.policy.engine import PolicyEngine  # noqa: E402
from broker.policy.opa import OpaServerEngine  # noqa: E402
from broker.policy.pool import IsolatedEngine  # noqa: E402
from tests.policy.opa_server import opa_server  # noqa: E402
from tests.policy.scenario import (  # noqa: E402  # noqa: E402
    FBI_INVESTIGATOR,
    HSI_OFFICER,
    PDI_INVESTIGATOR,
    POLICIES_DIR,
    identify_input,
    loop_input,
    record,
    release_input,
    slow_bundle,
)

INPUTS = [
    identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face"),
    identify_input(HSI_OFFICER, "immigration_enforcement", "warrant", "face"),
    identify_input(PDI_INVESTIGATOR, "criminal_investigation", "treaty_request", "fingerprint"),
    identify_input(
        FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", offence="homicide"
    ),
]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(call: Callable[[], Any], count: int) -> list[float]:
    for _ in range(min(50, count)):  # warm up: prepared queries, connections
        call()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def report(name: str, samples: list[float]) -> None:
    ms = 1000.0
    median, p99 = statistics.median(samples) * ms, percentile(samples, 0.99) * ms
    print(f"{name:46s} median {median:7.3f} ms   p99 {p99:7.3f} ms   (n={len(samples)})")


def deciding(engine: PolicyEngine) -> Callable[[], Any]:
    counter = iter(range(sys.maxsize))
    return lambda: engine.decide(INPUTS[next(counter) % len(INPUTS)])


def releasing(engine: PolicyEngine, release: dict[str, Any]) -> Callable[[], Any]:
    return lambda: engine.release(release)


def release_of_thirty(reference: EmbeddedEngine) -> dict[str, Any]:
    decision = reference.decide(INPUTS[0])
    origins = [("US", "us-fbi"), ("US-OR", "or-fusion"), ("US-OR-RIVERTON", "riverton-pd")]
    candidates = [
        Candidate(f"rec-{i}", 0.5 + i / 100, record(origin, (agency,)))
        for i, (origin, agency) in enumerate(origins * 10)
    ]
    return release_input(INPUTS[0], decision.obligations.to_json(), candidates)


def backends(bundle: PolicyBundle, decisions: int) -> None:
    reference = EmbeddedEngine(bundle)
    release = release_of_thirty(reference)
    isolated = IsolatedEngine(bundle, workers=2, timeout=5.0)
    with opa_server() as (url, _state):
        server = OpaServerEngine(bundle, url, timeout=5.0)
        engines: list[tuple[str, PolicyEngine]] = [
            ("embedded, in process", reference),
            ("embedded, isolated (the default)", isolated),
            ("opa (REST, opa-python-client)", server),
        ]
        for name, engine in engines:
            report(f"decision: {name}", measure(deciding(engine), decisions))
        print()
        for name, engine in engines:
            samples = measure(releasing(engine, release), max(100, decisions // 10))
            report(f"release of 30: {name}", samples)
        server.close()
    isolated.close()
    reference.close()


def missed_deadline() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        slow = Path(tmp) / "slow"
        shutil.copytree(POLICIES_DIR, slow, ignore=shutil.ignore_patterns("examples"))
        engine = IsolatedEngine(
            PolicyBundle.load(slow_bundle(slow), compile_now=False), workers=1, timeout=0.5
        )
        denied, recovered = [], []
        for _ in range(5):
            start = time.perf_counter()
            with contextlib.suppress(PolicyError):  # DecisionTimeoutError, as expected
                engine.decide(loop_input())
            missed = time.perf_counter()
            while True:
                try:
                    engine.decide(INPUTS[0])
                    break
                except PolicyError:  # no worker yet: DecisionTimeoutError again
                    continue
            denied.append(missed - start)
            recovered.append(time.perf_counter() - missed)
        engine.close()
    print(
        f"missed deadline (0.5 s), one worker: denied after {statistics.median(denied) * 1e3:.0f}"
        f" ms; a replacement answered {statistics.median(recovered) * 1e3:.0f} ms later"
        " (median of 5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    bundle = PolicyBundle.load(POLICIES_DIR)
    print(f"policy revision {bundle.revision[:16]}…, {len(bundle.modules)} modules")
    print(f"decisions per backend: {args.decisions}, one thread\n")
    backends(bundle, args.decisions)
    print()
    missed_deadline()


if __name__ == "__main__":
    main()
