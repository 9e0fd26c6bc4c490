"""`broker receipt verify RECEIPT`: a caller checks a decision receipt it was given, and with
a proof bundle that the decision is in the audit log, using only the broker's public keys."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from broker.errors import VerificationError


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("receipt", help="verify decision receipts")
    actions = parser.add_subparsers(dest="receipt_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="check a receipt's signature against the broker's key set and, with --proof, "
        "that the log holds it",
    )
    verify.add_argument(
        "receipt", metavar="RECEIPT", help="file holding the receipt (compact JWS), or - for stdin"
    )
    verify.add_argument(
        "--jwks",
        type=Path,
        required=True,
        help="the broker's public key set (GetSigningKeys, or `broker keys export --audit-dir`)",
    )
    verify.add_argument("--proof", type=Path, help="a tlog-proof from `broker audit prove`")
    verify.add_argument("--origin", help="the log the proof must come from")
    verify.add_argument("--issuer", help="the broker id the receipt must name as iss")
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    """Prints "OK: ..." and returns 0, or "FAIL: <reason>" and returns 1."""
    from broker.keys import load_jwks
    from broker.receipt_check import check_receipt

    try:
        receipt = _read(args.receipt, "receipt").strip()
        proof = None if args.proof is None else _read(str(args.proof), "proof")
        checked = check_receipt(
            receipt, load_jwks(args.jwks), proof=proof, origin=args.origin, issuer=args.issuer
        )
    except VerificationError as e:
        print(f"FAIL: {e}")
        return 1
    claims = checked.claims
    print(
        f"OK: receipt {checked.jti}: {claims['decision']} {claims['op']} by {claims['iss']}, "
        f"signed by key {checked.kid}, log entry {checked.log_seq}"
    )
    if checked.included_in is not None:
        head = checked.included_in
        print(
            f"in the log: entry {checked.log_seq} is in the tree of {head.size} entries "
            f"(root {head.root.hex()}) that {head.origin} signed"
        )
    return 0


def _read(name: str, what: str) -> str:
    try:
        if name == "-":
            return sys.stdin.read()
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise VerificationError(f"{what} {name}: unreadable: {e}") from e
