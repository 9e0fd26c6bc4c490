"""`broker keys generate|rotate|export`: the Ed25519 key that signs receipts, entries and
checkpoints, its successors, and the public key set verifiers need."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from broker.errors import AuditError, BrokerError, SigningError, VerificationError
from broker.keys import SigningKey, load_jwks


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("keys", help="create, rotate and publish signing keys")
    actions = parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    generate = actions.add_parser("generate", help="create an Ed25519 signing key; prints its kid")
    generate.add_argument("--out", type=Path, required=True, help="PEM file to create (0600)")
    generate.add_argument(
        "--force", action="store_true", help="replace an existing file (the old key is lost)"
    )
    generate.set_defaults(func=run_generate)

    rotate = actions.add_parser(
        "rotate",
        help="replace the broker's signing key (broker stopped): the log records the change, "
        "endorsed by the old key, and keeps every old public key",
    )
    rotate.add_argument("--config", type=Path, help="the broker's TOML configuration")
    rotate.add_argument("--key", type=Path, help="the PEM signing key (instead of --config)")
    rotate.add_argument("--audit-dir", type=Path, help="the audit log (instead of --config)")
    rotate.add_argument("--broker-id", help="the broker id naming the log (instead of --config)")
    rotate.add_argument(
        "--unendorsed",
        action="store_true",
        help="the active key is lost: announce the new key without its endorsement "
        "(auditors must then trust it through a key set they obtain independently)",
    )
    rotate.set_defaults(func=run_rotate)

    export = actions.add_parser(
        "export", help="print a public key set (JWKS): of one key, or of every key of a log"
    )
    source = export.add_mutually_exclusive_group(required=True)
    source.add_argument("--key", type=Path, help="PEM signing key")
    source.add_argument(
        "--audit-dir", type=Path, help="audit log directory: every key that signed it"
    )
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


def run_rotate(args: argparse.Namespace) -> int:
    from broker.audit.log import origin_for
    from broker.audit.rotation import rotate_signing_key

    try:
        key_file, audit_dir, broker_id = _rotation_target(args)
        rotation = rotate_signing_key(
            key_file, audit_dir, origin_for(broker_id), unendorsed=args.unendorsed
        )
    except BrokerError as e:
        print(f"broker keys rotate: {e}", file=sys.stderr)
        return 1
    how = "endorsed by" if rotation.endorsed else "NOT endorsed by"
    print(f"new key {rotation.new_kid} signs from entry {rotation.entry_seq} on, {how} the old key")
    print(f"old key {rotation.old_kid} retired; its public key stays in {audit_dir}/keys.jwks.json")
    return 0


def _rotation_target(args: argparse.Namespace) -> tuple[Path, Path, str]:
    explicit = (args.key, args.audit_dir, args.broker_id)
    if args.config is not None:
        if any(value is not None for value in explicit):
            raise SigningError("give either --config or --key, --audit-dir and --broker-id")
        from broker.config import BrokerConfig

        config = BrokerConfig.load(args.config, env={})
        return config.signing_key_file, config.audit_dir, config.broker_id
    if any(value is None for value in explicit):
        raise SigningError("give --config, or all of --key, --audit-dir and --broker-id")
    return args.key, args.audit_dir, args.broker_id


def run_export(args: argparse.Namespace) -> int:
    try:
        if args.key is not None:
            jwks = {"keys": [SigningKey.load_pem(args.key).public_jwk()]}
        else:
            jwks = load_jwks(args.audit_dir / "keys.jwks.json")
    except (SigningError, VerificationError, AuditError) as e:
        print(f"broker keys export: {e}", file=sys.stderr)
        return 1
    print(json.dumps(jwks, indent=2))
    return 0
