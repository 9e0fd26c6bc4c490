"""Starts the real matcher and broker as child processes and waits until they serve.

Used by `broker demo`, the integration tests and the benchmarks, so all three run the very
processes a deployment runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

_LISTENING = re.compile(r"listening on (\S+)")
STARTUP_TIMEOUT_SECONDS = 60.0


class LaunchError(RuntimeError):
    """A child process exited or did not become healthy in time."""


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: what a crash looks like to the files it leaves."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_matcher(gallery: Path, socket: Path, log_path: Path) -> ServerProcess:
    address = f"unix:{socket}"
    command = [sys.executable, "-m", "matcher", "serve", "--gallery", str(gallery)]
    return _start("matcher", [*command, "--listen", address], log_path, health_service="")


def start_broker(config: Path, log_path: Path, listen: str | None = None) -> ServerProcess:
    command = [sys.executable, "-m", "broker", "serve", "--config", str(config)]
    if listen:
        command += ["--listen", listen]
    return _start("broker", command, log_path, health_service="biometric.broker.v1.BiometricBroker")


def _start(name: str, command: list[str], log_path: Path, *, health_service: str) -> ServerProcess:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    address = None
    while address is None:
        if process.poll() is not None:
            raise LaunchError(f"{name} exited with {process.returncode}:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise LaunchError(f"{name} did not start in time:\n{log_path.read_text()}")
        match = _LISTENING.search(log_path.read_text(errors="replace"))
        address = match.group(1) if match else None
        if address is None:
            time.sleep(0.05)
    server = ServerProcess(name, process, address, log_path)
    try:
        wait_serving(address, health_service, deadline - time.monotonic())
    except LaunchError:
        server.stop()
        raise
    return server


def wait_serving(address: str, service: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise LaunchError(f"{address} did not report SERVING in time")
            time.sleep(0.05)
