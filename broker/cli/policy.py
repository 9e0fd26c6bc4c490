"""`broker policy ...`: commands for the people who write and review policies.

Each sub-command is one `_add_<name>` function; `explain`, `check` and `diff` join `test`
the same way.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from broker.errors import PolicyError
from broker.policy.testing import run_tests, untested_lines


def default_policy_dir() -> Path:
    """The repository's policies/ beside the installed `broker` package (an editable install).

    Found from this file rather than `broker.__file__`, which is None when the editable
    install's finder presents `broker` as a namespace package."""
    return Path(__file__).resolve().parents[2] / "policies"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "policy",
        help="test and inspect the Rego policy bundle",
        description="Commands for policy authors and reviewers.",
    )
    policy_commands = parser.add_subparsers(
        dest="policy_command", required=True, metavar="POLICY_COMMAND"
    )
    _add_test(policy_commands)


def _add_test(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "test",
        help="run the bundle's Rego tests (test_* rules in *_test.rego)",
        description="Runs every test rule with the embedded OPA engine. Exits 1 if any test "
        "fails or errors, or if no test ran.",
    )
    parser.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        type=Path,
        default=None,
        help="the policy bundle directory (default: the repository's policies/)",
    )
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
        help="also list module lines no test evaluates, and fail if there are any",
    )
    parser.set_defaults(func=run_test_command)


def run_test_command(args: argparse.Namespace) -> int:
    directory: Path = args.directory or default_policy_dir()
    try:
        results = run_tests(directory, args.run)
    except PolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for result in results:
        if result.passed:
            print(f"PASS {result.full_name}")
        elif result.error is not None:
            print(f"FAIL {result.full_name}: {result.error}")
        else:
            print(f"FAIL {result.full_name}")
    passed = sum(1 for result in results if result.passed)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    if not results:
        print("error: no tests ran", file=sys.stderr)
        return 1
    if args.coverage and _report_untested(directory):
        return 1
    return 1 if failed else 0


def _report_untested(directory: Path) -> bool:
    """Prints the lines no test evaluates; True if there are any."""
    try:
        gaps = untested_lines(directory)
    except PolicyError as e:
        print(f"error: {e}", file=sys.stderr)
        return True
    for name, lines in sorted(gaps.items()):
        print(f"UNTESTED {name}: lines {', '.join(str(line) for line in lines)}")
    if not gaps:
        print("every module line is evaluated by some test")
    return bool(gaps)


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression {text!r}: {e}") from e
