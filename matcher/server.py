"""gRPC wiring: the Matcher service and health checking, on a Unix socket or loopback only.

Authentication of the broker (the matcher refuses every other caller):
- Unix socket: created with mode 0600 (umask during bind, then chmod, then checked, owner
  checked), so the kernel refuses `connect` from any user but the matcher's own, which the
  broker runs as (the chart runs both containers as one uid). gRPC does not expose the
  peer's credentials (SO_PEERCRED) to Python servicers, so the file permission is the
  check, enforced by the kernel before gRPC sees a byte. Root bypasses it, as it bypasses
  every file permission. A socket directory writable by other users lets them replace the
  socket (an impostor matcher for the broker), so that is logged as a warning; the chart's
  pod-local emptyDir is shared by the two containers only.
- TCP (loopback only): mutual TLS is required (matcher/tls.py); plaintext only with the
  loudly named `unsafe_plaintext_tcp`.
If any of this cannot be ensured the server refuses to start.
"""

from __future__ import annotations

import logging
import os
import stat
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from biometric.matcher.v1 import matcher_pb2_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from matcher.config import MatcherConfig
from matcher.errors import ConfigError, GalleryError
from matcher.gallery import Clock, Gallery, is_empty_directory, utc_now
from matcher.heap import long_lived_allocations
from matcher.manifest import MANIFEST_FILE
from matcher.rebuild import BackgroundRebuilder
from matcher.service import MatcherService
from matcher.tls import server_credentials

LOG = logging.getLogger(__name__)
SERVICE_NAME = "biometric.matcher.v1.Matcher"
SOCKET_MODE = 0o600
# Requests carry one template and a few filter lists; 1 MiB is far above any valid one.
MAX_REQUEST_BYTES = 1 << 20


@dataclass(frozen=True)
class RunningMatcher:
    """A started matcher. `address` is the target to dial (TCP port 0 resolved)."""

    server: grpc.Server
    address: str
    gallery: Gallery
    health: health.HealthServicer
    rebuilder: BackgroundRebuilder

    def stop(self, grace: float | None = 5.0) -> None:
        """Reports NOT_SERVING, drains calls for `grace` seconds, then closes the gallery."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.rebuilder.stop()
        self.gallery.close()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Blocks until the server stops (True) or `timeout` passes (False)."""
        timed_out: bool = self.server.wait_for_termination(timeout)  # grpc returns "timed out"
        return not timed_out


def open_or_create_gallery(config: MatcherConfig, clock: Clock = utc_now) -> Gallery:
    """Opens the gallery; creates an empty one when the directory is absent or empty."""
    directory = config.gallery_dir
    if (directory / MANIFEST_FILE).exists():
        return Gallery.open(
            directory, search_k=config.search_k, n_trees=config.n_trees, clock=clock
        )
    if directory.exists() and not is_empty_directory(directory):
        raise GalleryError(f"{directory} is neither a gallery nor an empty directory")
    LOG.warning("creating an empty gallery in %s", directory)
    return Gallery.create(directory, n_trees=config.n_trees, search_k=config.search_k, clock=clock)


def serve(config: MatcherConfig, *, clock: Clock = utc_now) -> RunningMatcher:
    """Opens the gallery and starts serving it; raises ConfigError or GalleryError.

    `clock` is the gallery's (retention); tests pass a fixed one.
    """
    tls = config.tls_files()
    credentials = None if tls is None else server_credentials(*tls)
    with long_lived_allocations():
        gallery = open_or_create_gallery(config, clock)
    rebuilder = BackgroundRebuilder(
        gallery, config.rebuild_threshold, interval=float(config.purge_interval)
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="matcher"),
        options=[("grpc.max_receive_message_length", MAX_REQUEST_BYTES)],
    )
    try:
        matcher_pb2_grpc.add_MatcherServicer_to_server(
            MatcherService(gallery, after_mutation=rebuilder.notify), server
        )
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        address = _bind(server, config, credentials)
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        rebuilder.start()
        server.start()
    except BaseException:
        server.stop(None)
        rebuilder.stop()
        gallery.close()
        raise
    LOG.info("matcher serving %s on %s", gallery.directory, address)
    return RunningMatcher(
        server=server,
        address=address,
        gallery=gallery,
        health=health_servicer,
        rebuilder=rebuilder,
    )


def _bind(server: Any, config: MatcherConfig, credentials: grpc.ServerCredentials | None) -> str:
    listen = config.address
    if listen.socket_path is None:
        if credentials is None:
            LOG.warning(
                "UNSAFE: plaintext TCP on %s: every local user can call the matcher",
                listen.text,
            )
        port = _add_port(server, listen.text, credentials)
        return listen.with_port(port)
    path = listen.socket_path
    if not path.parent.is_dir():
        raise ConfigError(f"listen: directory {path.parent} does not exist")
    _warn_if_others_may_replace(path.parent)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise ConfigError(f"listen: {path} exists and is not a socket")
        path.unlink()  # a socket left by a previous run
    previous = os.umask(0o177)
    try:
        _add_port(server, listen.text)
    finally:
        os.umask(previous)
    _restrict(path)
    return listen.text


def _add_port(server: Any, target: str, credentials: grpc.ServerCredentials | None = None) -> int:
    try:
        if credentials is None:
            port: int = server.add_insecure_port(target)
        else:
            port = server.add_secure_port(target, credentials)
    except RuntimeError as error:
        raise ConfigError(f"listen: cannot bind {target}: {error}") from error
    if port == 0:
        raise ConfigError(f"listen: cannot bind {target}")
    return port


def _restrict(path: Path) -> None:
    """Makes the socket owner-only before the server starts listening, or refuses."""
    os.chmod(path, SOCKET_MODE)
    status = path.lstat()
    mode = stat.S_IMODE(status.st_mode)
    if not stat.S_ISSOCK(status.st_mode) or mode != SOCKET_MODE:
        raise ConfigError(f"listen: {path} has mode {mode:o}, expected {SOCKET_MODE:o}")
    if status.st_uid != os.geteuid():
        raise ConfigError(f"listen: {path} is owned by uid {status.st_uid}, not the matcher's")


def _warn_if_others_may_replace(directory: Path) -> None:
    """Logs when users other than the owner may rename or delete entries of `directory`."""
    status = directory.stat()
    writable_by_others = status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable_by_others and not status.st_mode & stat.S_ISVTX:
        LOG.warning(
            "socket directory %s is writable by other users (mode %o): they could replace "
            "the socket; use a directory only the matcher's user can write",
            directory,
            stat.S_IMODE(status.st_mode),
        )
