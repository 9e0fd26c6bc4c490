"""What the broker adds: the same Identify workload sent straight to the matcher and through
the broker, in one run, at a fixed rate and at saturation, with fsync on.

    .venv/bin/python benchmarks/broker_overhead.py [--rate 40] [--seconds 10] [--clients 4]
                                                    [--profile FILE]

Starts the demo deployment (real matcher and broker processes, embedded OPA, audit log with
fsync) in a temporary directory. Every broker call is a full decision: authentication, Rego
decision, signed receipt, fsynced decision entry, matcher search, release rule, fsynced
outcome entry. The direct call is the matcher search the broker itself would send (k = 3 x
max_results, the same consent filter).

- Fixed rate (open loop): requests are sent on a schedule, and latency is measured from the
  scheduled time, so a slow reply delays nothing and hides nothing (no coordinated omission).
- Saturation (closed loop): --clients threads send back to back; the figure is completed
  calls per second (for the broker: decisions per second, each durable twice).
The added latency is the difference between the two distributions' percentiles.
With --profile, py-spy samples the broker process during the broker's saturation phase,
writes the collapsed stacks to FILE (flamegraph.pl or speedscope read them), and the top
functions by own and inclusive time are printed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from broker.demo.environment import start_environment

MAX_RESULTS = 10
OVERFETCH = 3  # the broker's default overfetch_factor


@dataclass
class Phase:
    name: str
    latencies: list[float]
    errors: int
    seconds: float

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def median(self) -> float:
        return statistics.median(self.latencies)


def fixed_rate(name: str, call: Callable[[int], None], rate: float, seconds: float) -> Phase:
    """Open loop: request i is due at start + i/rate, whatever happened to the others."""
    total = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def send(i: int, due: float) -> None:
        nonlocal errors
        try:
            call(i)
        except grpc.RpcError:
            with lock:
                errors += 1
            return
        with lock:
            latencies.append(time.perf_counter() - due)

    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i, due)
    return Phase(name, latencies, errors, seconds)


def saturation(name: str, call: Callable[[int], None], clients: int, seconds: float) -> Phase:
    """Closed loop: `clients` threads send back to back for `seconds`."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < stop:
            begun = time.perf_counter()
            try:
                call(i)
            except grpc.RpcError:
                with lock:
                    errors += 1
                continue
            with lock:
                latencies.append(time.perf_counter() - begun)
            i += clients

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    begun = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Phase(name, latencies, errors, time.perf_counter() - begun)


def report(title: str, direct: Phase, brokered: Phase) -> None:
    ms = 1000.0
    print(f"\n{title}")
    for phase in (direct, brokered):
        print(
            f"  {phase.name:<15} n={len(phase.latencies):5d}  errors={phase.errors:3d}  "
            f"median {phase.median * ms:7.2f} ms  p99 {phase.percentile(0.99) * ms:7.2f} ms  "
            f"{phase.throughput:7.1f}/s"
        )
    print(
        f"  broker adds     median {(brokered.median - direct.median) * ms:7.2f} ms  "
        f"p99 {(brokered.percentile(0.99) - direct.percentile(0.99)) * ms:7.2f} ms"
    )


def py_spy(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Samples `pid` for `seconds` into `out` (collapsed stacks, one line per stack)."""
    beside = Path(sys.executable).with_name("py-spy")
    spy = str(beside) if beside.exists() else shutil.which("py-spy")
    if spy is None:
        print("py-spy is not installed (pip install py-spy); no profile")
        return None
    return subprocess.Popen(
        [
            *(spy, "record", "--pid", str(pid), "--duration", str(int(seconds))),
            *("--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_functions(collapsed: Path, count: int = 15) -> None:
    """Own-time (leaf) and inclusive shares per function from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        n = int(samples)
        frames = stack.split(";")
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    print(f"\nprofile of the broker at saturation: {total} samples")
    print("  own time:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:count]:
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print("  inclusive, broker code:")
    ours = {f: n for f, n in inclusive.items() if "(broker/" in f}
    for frame, n in sorted(ours.items(), key=lambda kv: -kv[1])[:count]:
        print(f"    {100 * n / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=40.0, help="requests/s at fixed rate")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=4, help="threads at saturation")
    parser.add_argument("--profile", type=Path, help="py-spy the broker at saturation")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, start_environment(Path(tmp) / "bench") as env:
        probes = [env.gallery.probe("us-fbi", 10 + i % 20, "face") for i in range(400)]
        wire = [np.asarray(p, dtype=np.float32).tolist() for p in probes]
        token = env.token("fbi-investigator")  # valid 300 s; minted once, as a client would
        broker_channel = grpc.insecure_channel(env.broker.address)
        matcher_channel = grpc.insecure_channel(env.matcher.address)
        broker = broker_pb2_grpc.BiometricBrokerStub(broker_channel)
        matcher = matcher_pb2_grpc.MatcherStub(matcher_channel)
        justification = broker_pb2.Justification(
            purpose="criminal_investigation",
            legal_basis=broker_pb2.LegalBasis(type="warrant", reference="W-1"),
            case_id="C-1",
        )
        now = Timestamp()
        now.FromDatetime(datetime.now(UTC))

        def direct(i: int) -> None:
            matcher.Search(
                matcher_pb2.SearchRequest(
                    modality=matcher_pb2.MODALITY_FACE,
                    probe=wire[i % len(wire)],
                    k=MAX_RESULTS * OVERFETCH,
                    min_score=0.5,
                    filters=matcher_pb2.SearchFilters(
                        valid_at=now, required_consent_scope="criminal_investigation"
                    ),
                ),
                timeout=10,
            )

        def brokered(i: int) -> None:
            broker.Identify(
                broker_pb2.IdentifyRequest(
                    justification=justification,
                    modality=broker_pb2.MODALITY_FACE,
                    probe=wire[i % len(wire)],
                    max_results=MAX_RESULTS,
                ),
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=10,
            )

        for i in range(30):  # warm both paths (connections, caches, JIT-less Python imports)
            direct(i)
            brokered(i)
        print(
            f"Identify, face, demo gallery ({env.gallery.record_count} templates), fsync on; "
            f"{args.seconds:.0f} s per phase"
        )
        report(
            f"fixed rate: {args.rate:.0f} requests/s (open loop)",
            fixed_rate("matcher direct", direct, args.rate, args.seconds),
            fixed_rate("through broker", brokered, args.rate, args.seconds),
        )
        direct_phase = saturation("matcher direct", direct, args.clients, args.seconds)
        spy = py_spy(env.broker.process.pid, args.seconds, args.profile) if args.profile else None
        broker_phase = saturation("through broker", brokered, args.clients, args.seconds)
        report(
            f"saturation: {args.clients} clients back to back (closed loop)",
            direct_phase,
            broker_phase,
        )
        print(f"  decisions/s     {broker_phase.throughput:7.1f} (each: 2 fsynced log entries)")
        if spy is not None and args.profile is not None:
            spy.wait()
            if args.profile.exists():
                top_functions(args.profile)
        broker_channel.close()
        matcher_channel.close()


if __name__ == "__main__":
    main()
