"""`broker keys generate|export`: the Ed25519 key that signs receipts, entries, checkpoints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from broker.errors import SigningError
from broker.keys import SigningKey


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("keys", help="create and publish signing keys")
    actions = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="create an Ed25519 signing key; prints its kid")
    generate.add_argument("--out", type=Path, required=True, help="PEM file to create (0600)")
    generate.add_argument(
        "--force", action="store_true", help="replace an existing file (the old key is lost)"
    )
    generate.set_defaults(func=run_generate)
    export = actions.add_parser("export", help="print the public key set (JWKS) of a key")
    export.add_argument("--key", type=Path, required=True, help="PEM signing key")
    export.set_defaults(func=run_export)


def run_generate(args: argparse.Namespace) -> int:
    key = SigningKey.generate()
    try:
        key.save_pem(args.out, overwrite=args.force)
    except SigningError as e:
        print(f"broker keys generate: {e}", file=sys.stderr)
        return 1
    print(key.kid)
    return 0


def run_export(args: argparse.Namespace) -> int:
    try:
        key = SigningKey.load_pem(args.key)
    except SigningError as e:
        print(f"broker keys export: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"keys": [key.public_jwk()]}, indent=2))
    return 0
