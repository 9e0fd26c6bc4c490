"""`broker serve`: run the broker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from broker.config import BrokerConfig
from broker.errors import BrokerError


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("serve", help="serve the BiometricBroker gRPC API")
    parser.add_argument("--config", type=Path, required=True, help="TOML configuration file")
    parser.add_argument("--listen", help="override the listen address (host:port or unix:PATH)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from broker import server  # the gRPC stack loads only for the commands that serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        config = BrokerConfig.load(args.config, overrides={"listen": args.listen})
        running = server.start(config)
    except (BrokerError, OSError) as e:
        print(f"broker: cannot start: {e}", file=sys.stderr)
        return 2
    address = config.listen
    if not address.startswith("unix:"):
        address = f"{address.rsplit(':', 1)[0]}:{running.port}"
    print(f"broker listening on {address}", flush=True)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    running.stop()
    return 0
