"""`broker audit verify DIR`: check an audit log offline, entry by entry."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.audit.verify import verify_log
from broker.errors import VerificationError
from broker.keys import load_jwks


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("audit", help="inspect and verify audit logs")
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="verify every entry, signature, receipt and the checkpoint of a log directory",
    )
    verify.add_argument("directory", type=Path, metavar="DIR", help="the log directory")
    verify.add_argument(
        "--jwks",
        type=Path,
        help="trusted public key set (default: the directory's own keys.jwks.json)",
    )
    verify.add_argument(
        "--checkpoint",
        type=Path,
        help="a signed checkpoint held independently (default: the directory's checkpoint)",
    )
    verify.add_argument("--origin", help="the log's expected origin (default: as it declares)")
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Prints "OK: N entries, root <hex>" and returns 0, or "FAIL: <reason>" and returns 1."""
    try:
        jwks = load_jwks(args.jwks) if args.jwks is not None else None
        checkpoint = None
        if args.checkpoint is not None:
            try:
                checkpoint = args.checkpoint.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise VerificationError(f"{args.checkpoint}: unreadable: {e}") from e
        result = verify_log(args.directory, jwks=jwks, checkpoint=checkpoint, origin=args.origin)
    except VerificationError as e:
        print(f"FAIL: {e}")
        return 1
    if jwks is None:
        print(
            "note: checked against the log's own key set; pass --jwks with an independently "
            "obtained copy to detect a rewritten log",
            file=sys.stderr,
        )
    print(f"OK: {result.size} entries, root {result.root_hex}")
    return 0
