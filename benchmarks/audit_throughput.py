"""Audited decisions per second, and how fast an auditor verifies what was logged.

    .venv/bin/python benchmarks/audit_throughput.py [--entries 6000] [--requests 600]

1. The log alone: threads append decision entries the way the pipeline does (sign a receipt
   naming the entry's position, append, wait for fsync), real fsync on the local disk; with
   the number of fsyncs per entry (group commit shares them).
2. Through the broker: the demo deployment (real matcher and broker processes, embedded OPA,
   fsync on); clients send Identify calls the policy denies (unknown agency), so each call is
   authenticate + decide + receipt + one durable entry and the matcher is not the bottleneck.
3. Verification: `verify_log` over the log of (1) (every hash, chain link, signature and
   receipt), entries per second; and one inclusion proof: made from the live log's stored
   tree, and verified (checkpoint signature + RFC 9162 path), median of many.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from broker.audit.log import AuditLog, LogPosition
from broker.audit.proof import InclusionBundle, verify_inclusion_bundle
from broker.audit.prover import prove_inclusion
from broker.audit.verify import verify_log
from broker.client import BrokerClient, DeniedError, Justification
from broker.demo.environment import start_environment
from broker.keys import SigningKey
from broker.models import LegalBasis, Reason
from broker.receipts import ReceiptClaims, issue_receipt

ORIGIN = "bench.example/audit"
WARRANT = Justification("criminal_investigation", "warrant", "W-1", "C-1")


class CountingFsync:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        os.fsync(fd)
        with self.lock:
            self.calls += 1


def decision(key: SigningKey, n: int) -> Any:
    def body(position: LogPosition) -> dict[str, Any]:
        claims = ReceiptClaims(
            iss="bench",
            iat=int(time.time()),
            jti=f"bench-{n}-{position.seq}",
            sub="officer-1",
            agency="agency-a",
            op="identify",
            purpose="criminal_investigation",
            legal_basis=LegalBasis("warrant", "W-1"),
            decision="deny",
            reasons=(Reason("unknown_agency", "not a party to any agreement"),),
            policy_revision="ab" * 32,
            input_digest="cd" * 32,
            log_seq=position.seq,
            log_prev=position.prev,
        )
        return {"receipt": issue_receipt(key, claims)}

    return body


def log_alone(directory: Path, key: SigningKey, entries: int, threads: int) -> tuple[float, float]:
    fsync = CountingFsync()
    log = AuditLog.open(directory, key, origin=ORIGIN, fsync=fsync)
    per_thread = entries // threads
    before = fsync.calls

    def work(n: int) -> None:
        for _ in range(per_thread):
            log.append("decision", decision(key, n))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    fsyncs = fsync.calls - before
    log.close()
    done = per_thread * threads
    return done / elapsed, fsyncs / done


def through_broker(requests: int, clients: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, start_environment(Path(tmp) / "bench") as env:
        probe = env.gallery.stranger("face")
        per_client = requests // clients

        def work() -> None:
            with grpc.insecure_channel(env.broker.address) as channel:
                client = BrokerClient(channel, lambda: env.token("unknown-agency"))
                for _ in range(per_client):
                    with contextlib.suppress(DeniedError):
                        client.identify(WARRANT, "face", probe)

        for _ in range(20):  # warm up
            with contextlib.suppress(DeniedError):
                env.client("unknown-agency").identify(WARRANT, "face", probe)
        workers = [threading.Thread(target=work) for _ in range(clients)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return per_client * clients / (time.perf_counter() - start)


def verification(directory: Path, key: SigningKey) -> tuple[int, float, float, float]:
    start = time.perf_counter()
    result = verify_log(directory)
    rate = result.size / (time.perf_counter() - start)
    with AuditLog.open(directory, key, origin=ORIGIN) as log:
        seq = result.size // 3
        prove_inclusion(log, seq, with_entry=True)  # sign the covering checkpoint first
        made, checked = [], []
        for _ in range(500):
            start = time.perf_counter()
            answer = prove_inclusion(log, seq, with_entry=True)
            made.append(time.perf_counter() - start)
            text = answer.bundle().to_text()
            start = time.perf_counter()
            verify_inclusion_bundle(InclusionBundle.from_text(text), [key.verifying_key])
            checked.append(time.perf_counter() - start)
    us = 1e6
    return result.size, rate, statistics.median(made) * us, statistics.median(checked) * us


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=6000, help="per log-alone run")
    parser.add_argument("--requests", type=int, default=600, help="per broker run")
    args = parser.parse_args()
    key = SigningKey.generate()
    print(f"cores: {os.cpu_count()}, fsync on, {args.entries} entries per log-alone run")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        biggest = Path(tmp) / "t1"
        for threads in (1, 4, 16):
            rate, per_entry = log_alone(Path(tmp) / f"t{threads}", key, args.entries, threads)
            print(
                f"log alone, {threads:2d} threads : {rate:8.0f} decisions/s"
                f"   {per_entry:5.2f} fsyncs per entry"
            )
        for clients in (1, 4, 16):
            rate = through_broker(args.requests, clients)
            print(f"broker deny path, {clients:2d} clients : {rate:8.0f} decisions/s")
        size, rate, made, checked = verification(biggest, key)
        print(f"verify_log        : {rate:8.0f} entries/s ({size} entries, receipts included)")
        print(f"inclusion proof   : made in {made:6.1f} us, verified in {checked:6.1f} us")


if __name__ == "__main__":
    main()
