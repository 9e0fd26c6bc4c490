"""The `matcher` console script: serve, health, gallery rebuild/history/generate.

Exit codes: 0 success, 1 failure (message on stderr), 2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import io
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from matcher.codec import format_moment
from matcher.config import DEFAULT_PURGE_INTERVAL, DEFAULT_REBUILD_THRESHOLD, MatcherConfig
from matcher.durable import write_atomically
from matcher.errors import MatcherError
from matcher.gallery import DEFAULT_SEARCH_K, Gallery
from matcher.generate import generate
from matcher.manifest import DEFAULT_N_TREES
from matcher.records import PartitionSummary
from matcher.server import serve
from matcher.templates import DIMENSIONS, FACE
from matcher.tls import channel_credentials

LOG = logging.getLogger("matcher")
# Seconds in-flight calls get to finish after SIGTERM/SIGINT.
SHUTDOWN_GRACE = 5.0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(prog="matcher", description="Biometric matcher.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("serve", help="serve a gallery over gRPC")
    run.add_argument("--gallery", type=Path, required=True, help="gallery directory")
    run.add_argument("--listen", required=True, help="unix:/path or 127.0.0.1:PORT")
    run.add_argument(
        "--search-k",
        type=int,
        default=DEFAULT_SEARCH_K,
        help="Annoy nodes inspected per query and partition (1..10000000)",
    )
    run.add_argument("--n-trees", type=int, default=DEFAULT_N_TREES, help="Annoy trees per index")
    run.add_argument("--max-workers", type=int, default=8, help="server threads")
    run.add_argument(
        "--rebuild-threshold",
        type=int,
        default=DEFAULT_REBUILD_THRESHOLD,
        help="pending changes that trigger a background rebuild (0: never)",
    )
    run.add_argument(
        "--purge-interval",
        type=int,
        default=DEFAULT_PURGE_INTERVAL,
        help="seconds between rebuilds that purge removed or expired templates (0: never)",
    )
    run.add_argument("--tls-cert", type=Path, help="TCP only: the matcher's PEM certificate")
    run.add_argument("--tls-key", type=Path, help="TCP only: its PEM private key")
    run.add_argument(
        "--tls-client-ca", type=Path, help="TCP only: CA of the broker's client certificate"
    )
    run.add_argument(
        "--unsafe-plaintext-tcp",
        action="store_true",
        help="UNSAFE: TCP without TLS, callable by every local user (experiments only)",
    )
    run.set_defaults(func=_serve)

    probe = commands.add_parser("health", help="exit 0 when the matcher reports SERVING")
    probe.add_argument("--address", required=True, help="unix:/path or HOST:PORT")
    probe.add_argument("--timeout", type=float, default=2.0, help="seconds to wait")
    probe.add_argument("--service", default="", help="service name (default: the server)")
    probe.add_argument("--tls-ca", type=Path, help="mutual TLS: CA of the matcher's certificate")
    probe.add_argument("--tls-cert", type=Path, help="mutual TLS: client certificate")
    probe.add_argument("--tls-key", type=Path, help="mutual TLS: client private key")
    probe.set_defaults(func=_health)

    gallery = commands.add_parser("gallery", help="offline gallery maintenance")
    tasks = gallery.add_subparsers(dest="task", required=True, metavar="TASK")
    rebuild = tasks.add_parser("rebuild", help="fold the journal into fresh indexes")
    rebuild.add_argument("directory", type=Path)
    rebuild.set_defaults(func=_rebuild)
    history = tasks.add_parser("history", help="list the builds and what each purged")
    history.add_argument("directory", type=Path)
    history.set_defaults(func=_history)
    make = tasks.add_parser("generate", help="create a synthetic gallery")
    make.add_argument("--out", type=Path, required=True, help="new gallery directory")
    make.add_argument("--identities", type=_positive, required=True)
    make.add_argument("--samples", type=_positive, required=True, help="captures per identity")
    make.add_argument("--seed", type=int, required=True)
    make.add_argument(
        "--modality",
        action="append",
        choices=sorted(DIMENSIONS),
        help=f"repeat for several (default: {FACE})",
    )
    make.add_argument(
        "--unenrolled",
        type=_natural,
        default=0,
        help="non-mated probes per modality: captures of identities never enrolled",
    )
    make.add_argument("--n-trees", type=int, default=DEFAULT_N_TREES)
    make.add_argument(
        "--probes",
        type=Path,
        help="write probes here (.npz: <modality>_probes, <modality>_mates)",
    )
    make.set_defaults(func=_generate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns its exit code."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    args = build_parser().parse_args(argv)
    try:
        exit_code: int = args.func(args)
    except MatcherError as error:
        print(f"matcher: error: {error}", file=sys.stderr)
        return 1
    return exit_code


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _natural(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative integer")
    return value


def _serve(args: argparse.Namespace) -> int:
    config = MatcherConfig(
        gallery_dir=args.gallery,
        listen=args.listen,
        n_trees=args.n_trees,
        search_k=args.search_k,
        max_workers=args.max_workers,
        rebuild_threshold=args.rebuild_threshold,
        purge_interval=args.purge_interval,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        unsafe_plaintext_tcp=args.unsafe_plaintext_tcp,
    )
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("received %s; stopping", signal.Signals(signum).name)
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        running = serve(config)
        print(f"matcher listening on {running.address}", flush=True)
        stopping.wait()
        running.stop(SHUTDOWN_GRACE)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _health(args: argparse.Namespace) -> int:
    tls = (args.tls_ca, args.tls_cert, args.tls_key)
    if any(tls) and not all(tls):
        raise MatcherError("--tls-ca, --tls-cert and --tls-key go together (mutual TLS)")
    if all(tls):
        channel = grpc.secure_channel(args.address, channel_credentials(*tls))
    else:
        channel = grpc.insecure_channel(args.address)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as error:
            print(f"matcher: health check failed: {error.code().name}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(status)
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


def _rebuild(args: argparse.Namespace) -> int:
    with Gallery.open(args.directory) as gallery:
        gallery.rebuild()
        counts = gallery.partitions()
    _print_partitions(counts)
    return 0


def _history(args: argparse.Namespace) -> int:
    with Gallery.open(args.directory) as gallery:
        builds = gallery.history()
    print("generation\tfolded_seq\tcommitted_at\trecords\texpunged\texpired\treused")
    for b in builds:
        print(
            f"{b.generation}\t{b.folded_seq}\t{format_moment(b.committed_at)}\t{b.records}"
            f"\t{b.expunged}\t{b.expired}\t{b.reused}"
        )
    return 0


def _generate(args: argparse.Namespace) -> int:
    synthetic = generate(
        identities=args.identities,
        samples=args.samples,
        seed=args.seed,
        modalities=args.modality or [FACE],
        now=datetime.now(UTC),
        unenrolled=args.unenrolled,
    )
    with Gallery.create(args.out, n_trees=args.n_trees, records=synthetic.records) as gallery:
        counts = gallery.partitions()
    if args.probes is not None:
        arrays: dict[str, np.ndarray] = {}
        for modality, probe_set in synthetic.probe_sets.items():
            width = max((len(ids) for ids in probe_set.mates), default=0)
            padded = [ids + [""] * (width - len(ids)) for ids in probe_set.mates]
            arrays[f"{modality}_probes"] = probe_set.probes
            arrays[f"{modality}_mates"] = np.array(padded, dtype=str).reshape(-1, width)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        write_atomically(args.probes, buffer.getvalue())
    _print_partitions(counts)
    return 0


def _print_partitions(partitions: list[PartitionSummary]) -> None:
    for partition in partitions:
        print(f"{partition.modality}/{partition.origin_jurisdiction}\t{partition.record_count}")
