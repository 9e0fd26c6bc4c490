"""`broker audit verify|prove|verify-proof|report`: check a log offline, prove what it holds,
check such a proof with the log's public keys alone, and publish counts.

Every check prints "OK: ..." and exits 0, or prints "FAIL: <reason>" and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from broker.errors import VerificationError

if TYPE_CHECKING:
    from broker.audit.checkpoint import Checkpoint
    from broker.audit.snapshot import LogSnapshot

_NOTE_SELF_CHECK = (
    "note: checked against the log's own key set; pass --jwks with an independently "
    "obtained copy to detect a rewritten log"
)


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("audit", help="verify, prove and report on audit logs")
    actions = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser(
        "verify",
        help="verify every entry, signature, key change, receipt and checkpoint of a log, and "
        "its consistency with checkpoints held from earlier",
    )
    verify.add_argument("directory", type=Path, metavar="DIR", help="the log directory")
    _trust_arguments(verify)
    verify.add_argument("--origin", help="the log's expected origin (default: as it declares)")
    verify.set_defaults(func=run_verify)

    prove = actions.add_parser(
        "prove",
        help="write a proof bundle: a C2SP tlog-proof that an entry is in the log, or a "
        "consistency proof from an older tree head to the latest checkpoint",
    )
    prove.add_argument("directory", type=Path, metavar="DIR", help="the log directory")
    which = prove.add_mutually_exclusive_group(required=True)
    which.add_argument("--seq", type=int, help="the entry's sequence number")
    which.add_argument("--jti", help="the receipt id of a decision")
    which.add_argument("--receipt", type=Path, help="a file holding the receipt (compact JWS)")
    which.add_argument(
        "--from-checkpoint",
        type=Path,
        metavar="FILE",
        help="consistency: from this signed checkpoint (held from earlier) to the latest",
    )
    which.add_argument("--old-size", type=int, help="consistency: from this tree size")
    prove.add_argument("--out", type=Path, help="write the bundle here (default: stdout)")
    prove.set_defaults(func=run_prove)

    check = actions.add_parser(
        "verify-proof",
        help="verify a proof bundle offline with the log's public keys alone",
    )
    check.add_argument("proof", type=Path, metavar="PROOF", help="the bundle")
    check.add_argument("--jwks", type=Path, required=True, help="the log's public key set")
    check.add_argument("--origin", help="the log's expected origin (default: as it names)")
    check.add_argument(
        "--checkpoint", type=Path, help="consistency: the old checkpoint you hold yourself"
    )
    check.add_argument(
        "--receipt", type=Path, help="inclusion: also check the entry holds this receipt"
    )
    check.set_defaults(func=run_verify_proof)

    report = actions.add_parser(
        "report",
        help="transparency report: counts by purpose, agency, origin, outcome and deny reason "
        "per day or month, as JSON (stdout) and optionally a self-contained HTML page",
    )
    report.add_argument("directory", type=Path, metavar="DIR", help="the log directory")
    report.add_argument("--from", dest="start", type=_date, help="first day (YYYY-MM-DD, UTC)")
    report.add_argument("--to", dest="end", type=_date, help="last day, inclusive")
    report.add_argument("--by", choices=("day", "month"), default="month")
    report.add_argument("--html", type=Path, help="also write the HTML page here")
    report.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    _trust_arguments(report)
    report.set_defaults(func=run_report)


def _trust_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jwks",
        type=Path,
        help="trusted public key set (default: the directory's own keys.jwks.json)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        action="append",
        default=[],
        help="a signed checkpoint held from earlier (repeatable); the log must still "
        "contain its tree (the directory's own checkpoint is always checked too)",
    )


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from e


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise VerificationError(f"{what} {path}: unreadable: {e}") from e


def _jwks(path: Path | None) -> dict[str, Any] | None:
    from broker.keys import load_jwks

    return None if path is None else load_jwks(path)


def _write(path: Path | None, text: str) -> None:
    """To stdout, or atomically to a file: never a half-written bundle or report."""
    if path is None:
        sys.stdout.write(text)
        return
    from broker.audit.durable import write_atomic

    try:
        write_atomic(path, text.encode("utf-8"), mode=0o644)
    except OSError as e:
        raise VerificationError(f"{path}: cannot write: {e}") from e


def run_verify(args: argparse.Namespace) -> int:
    from broker.audit.verify import verify_log

    try:
        jwks = _jwks(args.jwks)
        held = [_read(path, "checkpoint") for path in args.checkpoint]
        result = verify_log(args.directory, jwks=jwks, checkpoints=held, origin=args.origin)
    except VerificationError as e:
        print(f"FAIL: {e}")
        return 1
    if jwks is None:
        print(_NOTE_SELF_CHECK, file=sys.stderr)
    print(f"OK: {result.size} entries, root {result.root_hex}")
    if result.checkpoint_size is not None:
        print(f"checkpoint: {result.checkpoint_size} entries, matches the log")
    for size in result.held_checkpoints:
        print(f"held checkpoint: {size} entries, the log extends it (consistent)")
    if len(result.signers) > 1:
        print(f"keys: {' -> '.join(result.signers)} (active: {result.active_kid})")
    for seq in result.unendorsed_key_changes:
        print(f"key change at entry {seq}: not endorsed; trusted through --jwks")
    for seq in result.recoveries:
        print(f"recovery at entry {seq}: a torn write was cut off and recorded")
    return 0


def run_prove(args: argparse.Namespace) -> int:
    from broker.audit.snapshot import LogSnapshot

    try:
        snapshot = LogSnapshot.load(args.directory)
        text = _prove(snapshot, args)
        _write(args.out, text)
    except VerificationError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0


def _prove(snapshot: LogSnapshot, args: argparse.Namespace) -> str:
    from broker.audit.checkpoint import parse_and_verify_checkpoint
    from broker.audit.prover import prove_consistency, prove_inclusion, seq_of_receipt
    from broker.receipts import ReceiptVerifier

    if args.from_checkpoint is not None or args.old_size is not None:
        old_text = None
        old_size = args.old_size
        if args.from_checkpoint is not None:
            old_text = _read(args.from_checkpoint, "checkpoint")
            origin = snapshot.origin or old_text.split("\n", 1)[0]
            old = parse_and_verify_checkpoint(old_text, list(snapshot.keys.values()), origin)
            old_size = old.size
        answer = prove_consistency(snapshot, old_size)
        return answer.bundle(old_text).to_text()
    if args.receipt is not None:
        receipt = _read(args.receipt, "receipt").strip()
        verifier = ReceiptVerifier({"keys": [k.public_jwk() for k in snapshot.keys.values()]})
        seq = seq_of_receipt(snapshot, receipt, verifier)
    elif args.jti is not None:
        seq = snapshot.seq_of_receipt(args.jti)
    else:
        seq = args.seq
    return prove_inclusion(snapshot, seq, with_entry=True).bundle().to_text()


def run_verify_proof(args: argparse.Namespace) -> int:
    from broker.audit.proof import (
        TLOG_PROOF_HEADER,
        ConsistencyBundle,
        InclusionBundle,
        verify_consistency_bundle,
        verify_inclusion_bundle,
    )
    from broker.keys import parse_jwks
    from broker.receipt_check import check_receipt

    try:
        jwks = _jwks(args.jwks) or {}  # --jwks is required
        keys = list(parse_jwks(jwks).values())
        text = _read(args.proof, "proof")
        if text.startswith(TLOG_PROOF_HEADER + "\n"):
            if args.receipt is not None:
                receipt = _read(args.receipt, "receipt").strip()
                checked = check_receipt(receipt, jwks, proof=text, origin=args.origin)
                print(
                    f"OK: receipt {checked.jti} is entry {checked.log_seq} of "
                    f"{_head(checked.included_in)}"
                )
                return 0
            inclusion = verify_inclusion_bundle(
                InclusionBundle.from_text(text), keys, origin=args.origin
            )
            kind = inclusion.entry.kind if inclusion.entry is not None else "leaf"
            print(f"OK: entry {inclusion.index} ({kind}) is in {_head(inclusion.checkpoint)}")
            return 0
        held = None if args.checkpoint is None else _read(args.checkpoint, "checkpoint")
        old, new = verify_consistency_bundle(
            ConsistencyBundle.from_text(text), keys, origin=args.origin, held=held
        )
        print(
            f"OK: the tree of {old.size} entries (root {old.root.hex()}) is a prefix of "
            f"{_head(new)}"
        )
    except VerificationError as e:
        print(f"FAIL: {e}")
        return 1
    return 0


def _head(checkpoint: Checkpoint | None) -> str:
    if checkpoint is None:
        return "no signed tree"
    return (
        f"the tree of {checkpoint.size} entries (root {checkpoint.root.hex()}) that log "
        f"{checkpoint.origin} signed"
    )


def run_report(args: argparse.Namespace) -> int:
    from broker.audit.report import build_report
    from broker.audit.report_html import render_html

    try:
        held = [_read(path, "checkpoint") for path in args.checkpoint]
        report = build_report(
            args.directory,
            granularity=args.by,
            start=args.start,
            end=args.end,
            jwks=_jwks(args.jwks),
            checkpoints=held,
        ).to_json()
        if args.html is not None:
            _write(args.html, render_html(report))
        _write(args.out, json.dumps(report, indent=2, sort_keys=True) + "\n")
    except (VerificationError, ValueError) as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    return 0
