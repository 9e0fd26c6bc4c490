"""`broker demo`: build a synthetic multi-agency gallery, start the real matcher and broker,
run the scripted queries, verify the audit log, and print what happened."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.demo.scenario import StepResult

MARKER = ".broker-demo"


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser("demo", help="run the end-to-end demo on embedded defaults")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("broker-demo"),
        help="where the gallery, audit log, keys and logs are left (default: ./broker-demo)",
    )
    parser.add_argument("--policies", type=Path, help="policy directory (default: the shipped one)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from broker.audit.verify import verify_log
    from broker.demo.environment import SHIPPED_POLICIES, start_environment
    from broker.demo.scenario import STEPS, run_step
    from broker.errors import VerificationError
    from broker.receipts import ReceiptVerifier

    started = time.monotonic()
    workdir: Path = args.workdir.resolve()
    if workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            print(f"broker demo: {workdir} is not empty and not a demo directory", file=sys.stderr)
            return 2
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    (workdir / MARKER).write_text("created by `broker demo`; safe to delete\n")

    print(f"biometric-broker demo in {workdir}\n")
    with start_environment(workdir, policy_dir=args.policies or SHIPPED_POLICIES) as env:
        print(
            f"gallery: {env.gallery.record_count} templates from 4 agencies "
            f"(matcher on {env.matcher.address}, broker on {env.broker.address})\n"
        )
        jwks = json.loads(env.client("fbi-investigator").signing_keys().jwks_json)
        receipts = ReceiptVerifier(jwks, issuer="demo-broker")
        results = [run_step(env, step, receipts) for step in STEPS]
    for n, result in enumerate(results, 1):
        _print_step(n, result)

    try:
        verified = verify_log(workdir / "audit")
        audit_line = f"audit log verified: {verified.size} entries, root {verified.root_hex[:16]}…"
        audit_ok = True
    except VerificationError as e:
        audit_line = f"audit log FAILED verification: {e}"
        audit_ok = False
    unexpected = [r for r in results if r.problems]
    allowed = sum(r.allowed for r in results)
    print(
        textwrap.dedent(f"""
        Summary
          queries: {len(results)} ({allowed} allowed, {len(results) - allowed} denied)
          every receipt verified against the keys from GetSigningKeys
          {audit_line}
          steps that did not behave as described: {len(unexpected)}
          left in {workdir}: gallery/, audit/, keys/, logs/, broker.toml
          check the log yourself: broker audit verify {workdir / "audit"}
          finished in {time.monotonic() - started:.1f} s""")
    )
    return 0 if audit_ok and not unexpected else 1


def _print_step(n: int, result: StepResult) -> None:
    step = result.step
    print(f"{n:2d}. {step.title}")
    print(f"    as {step.who}: {step.justification.purpose}, {step.modality}")
    if result.allowed:
        review = ", human review required" if result.human_review else ""
        print(
            f"    ALLOWED  receipt #{result.receipt_seq}: {len(result.released)} released, "
            f"{result.withheld} withheld by provenance{review}"
        )
        if result.excluded_origins:
            print(f"    origins the decision excluded: {', '.join(result.excluded_origins)}")
        for record_id, score, origin in result.released[:4]:
            print(f"      {score:5.3f}  {record_id}  ({origin})")
        if len(result.released) > 4:
            print(f"      … and {len(result.released) - 4} more")
    else:
        print(f"    DENIED   receipt #{result.receipt_seq}")
        for code, message in result.reasons:
            print(f"      {code}: {message}")
    for problem in result.problems:
        print(f"    UNEXPECTED: {problem}")
    print()
