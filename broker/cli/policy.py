"""`broker policy ...`: commands for the people who write and review policies.

    broker policy test [DIR] [--coverage] [--min-coverage N] [--now RFC3339] [--run REGEX]
    broker policy check [DIR]
    broker policy explain [--policies DIR] (--input FILE | --request FILE) [--show-input]
    broker policy diff [DIR] --against DIR --inputs FILE

Each sub-command is one `_add_<name>` function. DIR defaults to the repository's policies/.
Every command that evaluates decisions does it the way the broker does: in a policy worker,
under the decision deadline (--timeout), so a slow policy shows here as it would in service.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from broker.errors import InvalidRequestError, PolicyError
from broker.rfc3339 import parse as parse_rfc3339

DEFAULT_TIMEOUT_SECONDS = 0.5  # the broker's default decision_timeout_seconds


def default_policy_dir() -> Path:
    """The repository's policies/ beside the installed `broker` package (an editable install).

    Found from this file rather than `broker.__file__`, which is None when the editable
    install's finder presents `broker` as a namespace package."""
    return Path(__file__).resolve().parents[2] / "policies"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "policy",
        help="test, check, explain and compare Rego policy bundles",
        description="Commands for policy authors and reviewers.",
    )
    policy_commands = parser.add_subparsers(
        dest="policy_command", required=True, metavar="POLICY_COMMAND"
    )
    _add_test(policy_commands)
    _add_check(policy_commands)
    _add_explain(policy_commands)
    _add_diff(policy_commands)


# -- test --------------------------------------------------------------------------------


def _add_test(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "test",
        help="run the bundle's Rego tests (test_* rules in *_test.rego)",
        description="Runs every test rule with the embedded OPA engine and prints each "
        "result. Exits 1 if any test fails or errors, if no test ran, or if line coverage "
        "is below --min-coverage.",
    )
    _directory_argument(parser)
    parser.add_argument(
        "--run",
        metavar="REGEX",
        type=_regex,
        default=None,
        help="run only tests whose full name (data.pkg.test_x) matches REGEX",
    )
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="also print each module's line coverage, and the lines no test evaluates",
    )
    parser.add_argument(
        "--min-coverage",
        metavar="N",
        type=_percent,
        default=None,
        help="fail if the modules' line coverage is below N percent (implies --coverage)",
    )
    parser.add_argument(
        "--now",
        metavar="RFC3339",
        type=_moment,
        default=None,
        help="run the tests as of this moment (sets data.test_clock.now, which the "
        "fixtures' clock reads): shows what will have changed by then",
    )
    parser.set_defaults(func=run_test_command)


def run_test_command(args: argparse.Namespace) -> int:
    from broker.policy.testing import run_suite

    directory: Path = args.directory or default_policy_dir()
    wants_coverage = args.coverage or args.min_coverage is not None
    try:
        suite = run_suite(directory, args.run, now=args.now, coverage=wants_coverage)
    except PolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for result in suite.results:
        if result.passed:
            print(f"PASS {result.full_name}")
        elif result.error is not None:
            print(f"FAIL {result.full_name}: {result.error}")
        else:
            print(f"FAIL {result.full_name}")
    passed = sum(1 for result in suite.results if result.passed)
    failed = len(suite.results) - passed
    print(f"{passed} passed, {failed} failed")
    if not suite.results:
        print("error: no tests ran", file=sys.stderr)
        return 1
    below = False
    if suite.coverage is not None:
        for file in suite.coverage.files:
            total = len(file.covered) + len(file.not_covered)
            print(f"COVERAGE {file.name}: {file.percent:.1f}% ({len(file.covered)}/{total} lines)")
            if file.not_covered:
                lines = ", ".join(str(line) for line in file.not_covered)
                print(f"UNTESTED {file.name}: lines {lines}")
        print(f"COVERAGE total: {suite.coverage.percent:.1f}%")
        if args.min_coverage is not None and suite.coverage.percent < args.min_coverage:
            print(
                f"error: line coverage {suite.coverage.percent:.1f}% is below "
                f"{args.min_coverage:g}%",
                file=sys.stderr,
            )
            below = True
    return 1 if failed or below else 0


# -- check -------------------------------------------------------------------------------


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "check",
        help="check a bundle the way the broker does before it loads one",
        description="Parses and compiles the modules, validates every data document against "
        "its schema, checks the documents agree with each other, and evaluates sample inputs "
        "built from the bundle's data to check every answer has the documented shape. Exits "
        "1 on the first problem, naming it.",
    )
    _directory_argument(parser)
    _timeout_argument(parser)
    parser.set_defaults(func=run_check_command)


def run_check_command(args: argparse.Namespace) -> int:
    from broker.policy.bundle import PolicyBundle
    from broker.policy.check import check_answers
    from broker.policy.pool import IsolatedEngine

    directory: Path = args.directory or default_policy_dir()
    try:
        bundle = PolicyBundle.load(directory, compile_now=False)
        engine = IsolatedEngine(bundle, workers=2, timeout=args.timeout)
        try:
            report = check_answers(bundle, engine, parallel=2)
        finally:
            engine.close()
    except PolicyError as e:
        print(f"FAIL {directory}: {e}")
        return 1
    print("\n".join(report.lines()))
    return 0


# -- explain -----------------------------------------------------------------------------


def _add_explain(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "explain",
        help="say in words what the policy decides for one request, and why",
        description="Prints the decision, every reason, the agreements that opened something "
        "for the request, and the obligations. --input takes a policy input as the broker "
        "builds it (with 'candidates' and a release input's fields, also the release); "
        "--request takes a request as the gRPC API does (an IdentifyRequest in its JSON "
        "mapping, plus 'subject', and optionally 'now' and 'partitions').",
    )
    parser.add_argument(
        "--policies",
        metavar="DIR",
        type=Path,
        default=None,
        help="the policy bundle directory (default: the repository's policies/)",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="FILE", type=Path, help="a policy input (JSON)")
    source.add_argument("--request", metavar="FILE", type=Path, help="a request (JSON)")
    parser.add_argument(
        "--show-input",
        action="store_true",
        help="also print the policy input, as JSON (for `broker policy diff --inputs`)",
    )
    _timeout_argument(parser)
    parser.set_defaults(func=run_explain_command)


def run_explain_command(args: argparse.Namespace) -> int:
    from broker.policy.bundle import PolicyBundle
    from broker.policy.explain import explain
    from broker.policy.pool import IsolatedEngine
    from broker.policy.request_input import request_to_input

    directory: Path = args.policies or default_policy_dir()
    try:
        bundle = PolicyBundle.load(directory, compile_now=False)
        document = _read_json(args.input or args.request)
        notes = []
        if args.request is not None:
            policy_input, placeholder = request_to_input(
                document,
                jurisdictions=bundle.data.get("jurisdictions", {}),
                revision=bundle.revision,
            )
            if placeholder:
                notes.append("(no probe given: a placeholder stands in; only its digest is seen)")
        elif isinstance(document, dict):
            policy_input = document
        else:
            raise InvalidRequestError(str(args.input), "expected a JSON object (a policy input)")
        engine = IsolatedEngine(bundle, workers=1, timeout=args.timeout)
        try:
            lines = explain(bundle.data, engine, policy_input)
        finally:
            engine.close()
    except (PolicyError, InvalidRequestError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"Policy bundle: {directory} (revision {bundle.revision})")
    print("\n".join([*notes, *lines]))
    if args.show_input:
        print("Policy input:")
        print(json.dumps(policy_input, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


# -- diff --------------------------------------------------------------------------------


def _add_diff(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "diff",
        help="show where a candidate bundle decides differently from the active one",
        description="Decides every input of FILE with both bundles and prints each one "
        "where the allow or the obligations differ (what shadow mode records online). Exits "
        "0 when they agree on every input, 1 when they differ on some, 2 on an error.",
    )
    _directory_argument(parser)
    parser.add_argument(
        "--against",
        metavar="DIR",
        type=Path,
        required=True,
        help="the candidate bundle to compare with DIR",
    )
    parser.add_argument(
        "--inputs",
        metavar="FILE",
        type=Path,
        required=True,
        help="policy inputs: a JSON array, or one JSON document per line",
    )
    _timeout_argument(parser)
    parser.set_defaults(func=run_diff_command)


def run_diff_command(args: argparse.Namespace) -> int:
    from broker.policy.bundle import PolicyBundle
    from broker.policy.compare import changed_obligations
    from broker.policy.diff import compare, read_cases
    from broker.policy.pool import IsolatedEngine

    directory: Path = args.directory or default_policy_dir()
    try:
        cases = read_cases(args.inputs)
        active_bundle = PolicyBundle.load(directory, compile_now=False)
        candidate_bundle = PolicyBundle.load(args.against, compile_now=False)
        active = IsolatedEngine(active_bundle, workers=1, timeout=args.timeout)
        try:
            candidate = IsolatedEngine(candidate_bundle, workers=1, timeout=args.timeout)
            try:
                comparisons = compare(active, candidate, cases)
            finally:
                candidate.close()
        finally:
            active.close()
    except (PolicyError, InvalidRequestError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"active:    {directory} (revision {active_bundle.revision})")
    print(f"candidate: {args.against} (revision {candidate_bundle.revision})")
    differing = [c for c in comparisons if c.differs]
    for comparison in differing:
        print(f"DIFFERS {comparison.case.name}: {' and '.join(comparison.differs)}")
        if comparison.differs == ("obligations",):
            for change in changed_obligations(comparison.active, comparison.candidate):
                print(f"  {change}")
        else:
            print(f"  active:    {comparison.active.summary()}")
            print(f"  candidate: {comparison.candidate.summary()}")
    agree = len(comparisons) - len(differing)
    print(f"{len(comparisons)} inputs: {agree} agree, {len(differing)} differ")
    return 1 if differing else 0


# -- arguments ---------------------------------------------------------------------------


def _directory_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        type=Path,
        default=None,
        help="the policy bundle directory (default: the repository's policies/)",
    )


def _timeout_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"the decision deadline (default {DEFAULT_TIMEOUT_SECONDS}, as in the broker)",
    )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidRequestError(str(path), f"cannot be read: {e}") from e
    except ValueError as e:
        raise InvalidRequestError(str(path), f"invalid JSON: {e}") from e


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {e}") from e


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentage from 0 to 100, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds, more than 0, got {text!r}")
    return value


def _moment(text: str) -> datetime:
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 date-time (2031-01-01T00:00:00Z), got {text!r}"
        ) from e
