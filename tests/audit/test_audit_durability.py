"""Durability under load, with the real broker and matcher processes.

1. SIGKILL the broker while clients are sending, many times. After each restart every
   receipt a client received is in the log (the very same JWS, at the seq it names), the log
   verifies, and, where a power cut left a torn last write, the restart cut it off and
   recorded it in a recovery entry.

   SIGKILL cannot tear a write(2) to a regular file, and leaves the page cache to the kernel:
   it proves the ordering (a receipt leaves only after its entry was written and fsynced),
   not the disk's honesty about fsync. A power cut's torn tail is therefore simulated after
   the kill, as the partial line of a batch that was never acknowledged (an acknowledged one
   is fsynced whole before any receipt leaves).

2. Nothing reaches the matcher before the decision's entry is durable: a real broker and
   a real matcher in this process, with the log's fsync and the gallery's search observed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from broker import server
from broker.audit.verify import verify_log
from broker.authn.dev_issuer import DevIssuer
from broker.client import BrokerClient, DeniedError, Justification
from broker.config import BrokerConfig
from broker.demo.environment import (
    AUDIENCE,
    PRINCIPALS,
    SHIPPED_POLICIES,
    DemoEnvironment,
    start_environment,
    write_config,
)
from broker.demo.gallery import build_demo_gallery
from broker.launch import start_broker
from broker.receipts import unverified_claims
from matcher.config import MatcherConfig
from matcher.server import serve as serve_matcher

WARRANT = Justification("criminal_investigation", "warrant", "W-9", "CASE-9")
ROUNDS = 10  # kills
CLIENTS = 4
RECEIPTS_BEFORE_KILL = 10  # per round, across all clients; the kill lands mid-traffic
TORN_ROUNDS = frozenset({1, 4, 7})  # rounds whose kill is followed by a simulated power cut
TORN_TAIL = b'{"entry":{"body":{"receipt":"eyJhbGciOiJFZERTQSIsImtpZCI6'  # a partial line


@dataclass
class Round:
    """One round of traffic: what the clients received, and when to pull the plug."""

    receipts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    enough: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def received(self, jws: str) -> None:
        with self.lock:
            self.receipts.append(jws)
            if len(self.receipts) >= RECEIPTS_BEFORE_KILL:
                self.enough.set()


def _client_loop(env: DemoEnvironment, address: str, number: int, round_: Round) -> None:
    """Sends until the broker dies: denials (no matcher involved) and allowed searches."""
    who = "unknown-agency" if number % 2 else "fbi-investigator"
    probe = env.gallery.probe("us-fbi", number, "face")
    with grpc.insecure_channel(address) as channel:
        client = BrokerClient(channel, lambda: env.token(who), timeout=5.0)
        while True:
            try:
                response = client.identify(WARRANT, "face", probe)
                round_.received(response.decision_receipt.jws)
            except DeniedError as denied:
                round_.received(denied.details.receipt.jws)
            except grpc.RpcError:
                return  # the broker is gone; whatever was in flight was never received
            except BaseException as e:  # surfaced by the test
                round_.errors.append(e)
                return


def _logged_receipts(audit_dir: Path) -> dict[int, str]:
    found = {}
    for line in (audit_dir / "log.jsonl").read_bytes().splitlines():
        entry = json.loads(line)["entry"]
        if entry["kind"] == "decision":
            found[entry["seq"]] = entry["body"]["receipt"]
    return found


def _entries(audit_dir: Path) -> list[dict[str, Any]]:
    lines = (audit_dir / "log.jsonl").read_bytes().splitlines()
    return [json.loads(line)["entry"] for line in lines]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[DemoEnvironment]:
    with start_environment(tmp_path / "d") as environment:
        yield environment


def test_sigkill_under_load_never_loses_a_receipt(env: DemoEnvironment) -> None:
    config = env.workdir / "broker.toml"
    received: list[str] = []
    recoveries = 0
    for number in range(ROUNDS):
        round_ = Round()
        clients = [
            threading.Thread(target=_client_loop, args=(env, env.broker.address, n, round_))
            for n in range(CLIENTS)
        ]
        for thread in clients:
            thread.start()
        reached = round_.enough.wait(timeout=60)  # a hang guard, not a measurement
        env.broker.kill()
        for thread in clients:
            thread.join()
        assert reached and not round_.errors, round_.errors
        received.extend(round_.receipts)
        size_before_restart = len(_entries(env.audit_dir))
        if number in TORN_ROUNDS:
            with (env.audit_dir / "log.jsonl").open("ab") as log_file:
                log_file.write(TORN_TAIL)  # what a power cut mid-write leaves

        env.broker = start_broker(config, env.workdir / "logs" / f"broker-{number}.log")

        result = verify_log(env.audit_dir)
        logged = _logged_receipts(env.audit_dir)
        for jws in received:
            seq = unverified_claims(jws)["log"]["seq"]
            assert logged.get(seq) == jws, f"round {number}: the receipt of entry {seq} is lost"
        entries = _entries(env.audit_dir)
        assert result.size == len(entries)
        if number in TORN_ROUNDS:
            recovery = entries[size_before_restart]  # the first thing the restart wrote
            assert recovery["kind"] == "recovery"
            [cut] = recovery["body"]["truncated"]
            assert cut["length"] == len(TORN_TAIL)
            recoveries += 1
        else:
            assert all(e["kind"] != "recovery" for e in entries[size_before_restart:])
    assert len(received) >= ROUNDS * RECEIPTS_BEFORE_KILL
    assert verify_log(env.audit_dir).recoveries == tuple(
        e["seq"] for e in _entries(env.audit_dir) if e["kind"] == "recovery"
    )
    assert recoveries == len(TORN_ROUNDS)


class ObservedFsync:
    """The broker's real fsync, noting how much of each file it made durable."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.synced: dict[int, int] = {}

    def __call__(self, fd: int) -> None:
        info = os.fstat(fd)
        os.fsync(fd)
        with self.lock:
            self.synced[info.st_ino] = max(self.synced.get(info.st_ino, 0), info.st_size)

    def durable(self, path: Path) -> int:
        with self.lock:
            return self.synced.get(path.stat().st_ino, 0)


def test_nothing_reaches_the_matcher_before_its_decision_is_durable(tmp_path: Path) -> None:
    demo = build_demo_gallery(tmp_path / "gallery")
    socket = tmp_path / "m.sock"
    matcher = serve_matcher(MatcherConfig(tmp_path / "gallery", f"unix:{socket}"))
    issuer = DevIssuer.create()
    config = write_config(
        tmp_path, policy_dir=SHIPPED_POLICIES, matcher_socket=socket, issuer=issuer
    )
    fsync = ObservedFsync()
    log_file = tmp_path / "audit" / "log.jsonl"
    seen: list[tuple[int, int]] = []  # (end of the last decision entry, durable bytes)

    def observe(original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            data = log_file.read_bytes()
            lines = data.splitlines(keepends=True)
            ends = [sum(len(x) for x in lines[: i + 1]) for i in range(len(lines))]
            decisions = [
                e for e, line in zip(ends, lines, strict=True) if b'"kind":"decision"' in line
            ]
            # No decision in the file yet counts as not durable: beyond the end of the file.
            seen.append((decisions[-1] if decisions else len(data) + 1, fsync.durable(log_file)))
            return original(*args, **kwargs)

        return call

    matcher.gallery.search = observe(matcher.gallery.search)  # type: ignore[method-assign]
    matcher.gallery.compare = observe(matcher.gallery.compare)  # type: ignore[method-assign]
    broker = server.start(BrokerConfig.load(config, env={}), audit_fsync=fsync)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{broker.port}") as channel:
            token = issuer.mint(PRINCIPALS["fbi-investigator"], audience=AUDIENCE)
            client = BrokerClient(channel, lambda: token)
            for person in range(3):
                client.identify(WARRANT, "face", demo.probe("us-fbi", person, "face"))
    finally:
        broker.stop(grace=1.0)
        matcher.stop()
    assert len(seen) == 3  # every identify reached the matcher, each after its entry was durable
    for decision_end, durable in seen:
        assert durable >= decision_end
