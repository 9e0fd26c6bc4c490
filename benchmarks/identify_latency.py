"""One Identify through the broker against the same search sent straight to the matcher.

    .venv/bin/python benchmarks/identify_latency.py [--queries 300]

Starts the demo deployment (real matcher and broker processes, embedded OPA, fsync on) in a
temporary directory, sends the same probes both ways, one at a time, and prints median and
p99 latency for each and the broker's added latency.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from broker.client import Justification
from broker.demo.environment import start_environment

WARRANT = Justification("criminal_investigation", "warrant", "W-1", "C-1")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, start_environment(Path(tmp) / "bench") as env:
        probes = [env.gallery.probe("us-fbi", 10 + i % 20, "face") for i in range(args.queries)]
        client = env.client("fbi-investigator")
        stub = matcher_pb2_grpc.MatcherStub(grpc.insecure_channel(env.matcher.address))
        now = Timestamp()
        now.FromDatetime(datetime.now(UTC))
        for probe in probes[:20]:  # warm both paths
            client.identify(WARRANT, "face", probe, max_results=10)
        direct, brokered = [], []
        for probe in probes:
            start = time.perf_counter()
            stub.Search(
                matcher_pb2.SearchRequest(
                    modality=matcher_pb2.MODALITY_FACE,
                    probe=probe.tolist(),
                    k=30,
                    min_score=0.5,
                    filters=matcher_pb2.SearchFilters(
                        valid_at=now, required_consent_scope="criminal_investigation"
                    ),
                )
            )
            direct.append(time.perf_counter() - start)
            start = time.perf_counter()
            client.identify(WARRANT, "face", probe, max_results=10)
            brokered.append(time.perf_counter() - start)
    ms = 1000.0
    d50, d99 = statistics.median(direct) * ms, percentile(direct, 0.99) * ms
    b50, b99 = statistics.median(brokered) * ms, percentile(brokered, 0.99) * ms
    print(f"queries: {args.queries} face Identify, gallery of the demo, one client thread")
    print(f"matcher direct : median {d50:7.2f} ms   p99 {d99:7.2f} ms")
    print(f"through broker : median {b50:7.2f} ms   p99 {b99:7.2f} ms")
    print(
        f"broker adds    : median {b50 - d50:7.2f} ms"
        "   (decision, receipt, 2 fsynced log entries, release)"
    )


if __name__ == "__main__":
    main()
