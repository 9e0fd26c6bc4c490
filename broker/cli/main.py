"""Entry point of the `broker` console script."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from broker.cli import audit, certs, demo, keys, policy, receipt, serve

COMMAND_GROUPS = (serve, demo, policy, audit, keys, certs, receipt)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="broker",
        description="Policy-as-code access broker in front of a biometric matcher.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
