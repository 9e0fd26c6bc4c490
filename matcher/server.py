"""gRPC wiring: the Matcher service and health checking, on a Unix socket or loopback only.

A Unix socket is created with mode 0600 (umask during bind, then chmod, then checked), so
only the user the matcher runs as (the broker's, in the chart) can connect; if the mode
cannot be ensured the server refuses to start.
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
from matcher.gallery import Gallery, is_empty_directory
from matcher.manifest import MANIFEST_FILE
from matcher.rebuild import BackgroundRebuilder
from matcher.service import MatcherService

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


def open_or_create_gallery(config: MatcherConfig) -> Gallery:
    """Opens the gallery; creates an empty one when the directory is absent or empty."""
    directory = config.gallery_dir
    if (directory / MANIFEST_FILE).exists():
        return Gallery.open(directory, search_k=config.search_k, n_trees=config.n_trees)
    if directory.exists() and not is_empty_directory(directory):
        raise GalleryError(f"{directory} is neither a gallery nor an empty directory")
    LOG.warning("creating an empty gallery in %s", directory)
    return Gallery.create(directory, n_trees=config.n_trees, search_k=config.search_k)


def serve(config: MatcherConfig) -> RunningMatcher:
    """Opens the gallery and starts serving it; raises ConfigError or GalleryError."""
    gallery = open_or_create_gallery(config)
    rebuilder = BackgroundRebuilder(gallery, config.rebuild_threshold)
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
        address = _bind(server, config)
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


def _bind(server: Any, config: MatcherConfig) -> str:
    listen = config.address
    if listen.socket_path is None:
        port = _add_port(server, listen.text)
        return listen.with_port(port)
    path = listen.socket_path
    if not path.parent.is_dir():
        raise ConfigError(f"listen: directory {path.parent} does not exist")
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


def _add_port(server: Any, target: str) -> int:
    try:
        port: int = server.add_insecure_port(target)
    except RuntimeError as error:
        raise ConfigError(f"listen: cannot bind {target}: {error}") from error
    if port == 0:
        raise ConfigError(f"listen: cannot bind {target}")
    return port


def _restrict(path: Path) -> None:
    """Makes the socket owner-only before the server starts listening, or refuses."""
    os.chmod(path, SOCKET_MODE)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode != SOCKET_MODE:
        raise ConfigError(f"listen: {path} has mode {mode:o}, expected {SOCKET_MODE:o}")
