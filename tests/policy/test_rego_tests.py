"""The Rego test runner and `broker policy test`, on the shipped library and on small bundles
built to fail in known ways."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.cli import policy as policy_cli
from broker.errors import PolicyLoadError
from broker.policy.testing import TestResult, coverage_of, run_suite, run_tests, untested_lines
from tests.policy.scenario import POLICIES_DIR

# --- The shipped library, through the command CI runs ---

REQUIRED_MINIMUM_COVERAGE = 90


@pytest.fixture(scope="module")
def shipped_run() -> tuple[int, list[str]]:
    """`broker policy test --min-coverage 90` on the shipped library, run once."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exit_code = _run_cli(["policy", "test", "--min-coverage", str(REQUIRED_MINIMUM_COVERAGE)])
    return exit_code, output.getvalue().splitlines()


def test_every_shipped_rego_test_passes(shipped_run: tuple[int, list[str]]) -> None:
    exit_code, lines = shipped_run
    assert [line for line in lines if line.startswith("FAIL")] == []
    assert exit_code == 0
    passed = {line.removeprefix("PASS ") for line in lines if line.startswith("PASS ")}
    assert len(passed) >= 250
    assert re.fullmatch(r"\d+ passed, 0 failed", next(x for x in lines if " passed, " in x))
    # The cases DESIGN.md requires every policy library to test, and those of the issue.
    for required in [
        "data.broker.decision_test.test_unknown_agency_denied",
        "data.broker.decision_test.test_unknown_purpose_denied",
        "data.broker.decision_test.test_missing_legal_basis_denied",
        "data.broker.decision_test.test_expired_agreement_denied",
        "data.broker.decision_test.test_cross_border_without_agreement_denied",
        "data.broker.decision_test.test_protected_attribute_filter_denied",
        "data.broker.decision_test.test_protected_attribute_sort_denied",
        "data.broker.decision_test.test_identity_confirmation_never_identifies",
        "data.broker.decision_test.test_felony_search_reaches_washington_under_the_mou",
        "data.broker.decision_test.test_allow_says_which_retention_limit_applies_to_each_searched_origin",
        "data.broker.agreements_test.test_offence_floor_needs_a_serious_enough_offence",
        "data.broker.release_test.test_expired_retention_withheld",
        "data.broker.release_test.test_withdrawn_consent_withheld",
        "data.broker.release_test.test_fusion_centre_copy_withheld_from_immigration_enforcement",
        "data.broker.release_test.test_relabelled_copy_withheld_from_immigration_enforcement",
        "data.broker.release_test.test_relabelled_licence_photo_still_needs_the_agreement",
    ]:
        assert required in passed


def test_every_line_of_every_module_is_tested(shipped_run: tuple[int, list[str]]) -> None:
    """The issue asks for at least 90 %; the library keeps every line tested."""
    _, lines = shipped_run
    assert [line for line in lines if line.startswith("UNTESTED")] == []
    per_file = [line for line in lines if line.startswith("COVERAGE ") and "total" not in line]
    modules = sorted(path.name for path in POLICIES_DIR.glob("*.rego") if "_test" not in path.name)
    assert [line.split()[1].rstrip(":") for line in per_file] == modules
    assert all(" 100.0% " in line for line in per_file)
    assert "COVERAGE total: 100.0%" in lines


# --- The runner, on bundles built to fail ---

MODULE = """package demo

allow if input.user == "alice"
"""

TESTS = """package demo_test

import data.demo

test_alice_allowed if demo.allow with input as {"user": "alice"}

test_bob_allowed if demo.allow with input as {"user": "bob"}

test_error if 1 / 0 == 1

test_not_a_boolean := 5

test_with_an_argument(x) if x

helper if true

test_alice_allowed if demo.allow with input as {"user": "alice"}
"""


@pytest.fixture
def failing_bundle(tmp_path: Path) -> Path:
    (tmp_path / "demo.rego").write_text(MODULE)
    (tmp_path / "demo_test.rego").write_text(TESTS)
    return tmp_path


def _by_name(results: list[TestResult]) -> dict[str, TestResult]:
    return {r.name: r for r in results}


def test_runner_reports_pass_fail_and_error(failing_bundle: Path) -> None:
    results = run_tests(failing_bundle)
    assert [r.name for r in results] == [
        "test_alice_allowed",
        "test_bob_allowed",
        "test_error",
        "test_not_a_boolean",
    ]
    by_name = _by_name(results)
    assert by_name["test_alice_allowed"].passed
    assert by_name["test_alice_allowed"].package == "demo_test"
    assert by_name["test_alice_allowed"].error is None
    assert not by_name["test_bob_allowed"].passed and by_name["test_bob_allowed"].error is None
    assert not by_name["test_error"].passed
    assert "divide by zero" in (by_name["test_error"].error or "")
    assert not by_name["test_not_a_boolean"].passed  # only `true` passes
    assert all(r.duration_s >= 0 for r in results)


def test_runner_filters_by_regex(failing_bundle: Path) -> None:
    results = run_tests(failing_bundle, re.compile(r"alice|bob"))
    assert [r.full_name for r in results] == [
        "data.demo_test.test_alice_allowed",
        "data.demo_test.test_bob_allowed",
    ]


def test_runner_handles_package_names_that_are_not_identifiers(tmp_path: Path) -> None:
    (tmp_path / "odd_test.rego").write_text(
        'package odd["with-dash"]\n\ntest_ok if true\n\ntest_in_keyword_package if true\n'
    )
    (tmp_path / "m.rego").write_text("package m\n\nx := 1\n")
    results = run_tests(tmp_path)
    assert [(r.package, r.passed) for r in results] == [("odd.with-dash", True)] * 2


def test_untested_lines_are_reported(failing_bundle: Path) -> None:
    (failing_bundle / "more.rego").write_text("package more\n\nnever_tested if input.x\n")
    assert untested_lines(failing_bundle) == {"more.rego": (3,)}


# --- The command line ---


def _run_cli(argv: list[str]) -> int:
    """Parses and runs a command exactly as broker.cli.main does, with only this group."""
    parser = argparse.ArgumentParser(prog="broker")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    policy_cli.register(commands)
    args = parser.parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


def test_cli_fails_when_a_test_fails(
    failing_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_cli(["policy", "test", str(failing_bundle)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "PASS data.demo_test.test_alice_allowed"
    assert lines[1] == "FAIL data.demo_test.test_bob_allowed"
    assert lines[2].startswith("FAIL data.demo_test.test_error: ")
    assert lines[3] == "FAIL data.demo_test.test_not_a_boolean"
    assert lines[-1] == "1 passed, 3 failed"


def test_cli_passes_when_every_selected_test_passes(
    failing_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_cli(["policy", "test", str(failing_bundle), "--run", "alice"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "PASS data.demo_test.test_alice_allowed",
        "1 passed, 0 failed",
    ]


def test_cli_fails_when_no_test_runs(
    failing_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_cli(["policy", "test", str(failing_bundle), "--run", "nothing-matches"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["0 passed, 0 failed"]
    assert "no tests ran" in captured.err


def test_cli_reports_a_bundle_that_does_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.rego").write_text("package x\n\nallow if {\n")
    assert _run_cli(["policy", "test", str(tmp_path)]) == 1
    assert "broken.rego" in capsys.readouterr().err


def test_cli_coverage_reports_each_file_without_failing(
    failing_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (failing_bundle / "more.rego").write_text("package more\n\nnever_tested if input.x\n")
    assert _run_cli(["policy", "test", str(failing_bundle), "--run", "alice", "--coverage"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "COVERAGE demo.rego: 100.0% (1/1 lines)" in out
    assert "COVERAGE more.rego: 0.0% (0/1 lines)" in out
    assert "UNTESTED more.rego: lines 3" in out
    assert out[-1] == "COVERAGE total: 50.0%"


@pytest.mark.parametrize(("minimum", "exit_code"), [("50", 0), ("50.1", 1), ("90", 1)])
def test_cli_fails_below_the_minimum_coverage(
    failing_bundle: Path, capsys: pytest.CaptureFixture[str], minimum: str, exit_code: int
) -> None:
    (failing_bundle / "more.rego").write_text("package more\n\nnever_tested if input.x\n")
    argv = ["policy", "test", str(failing_bundle), "--run", "alice", "--min-coverage", minimum]
    assert _run_cli(argv) == exit_code
    captured = capsys.readouterr()
    assert "COVERAGE total: 50.0%" in captured.out
    assert ("is below" in captured.err) == (exit_code == 1)


@pytest.mark.parametrize("minimum", ["-1", "101", "most"])
def test_cli_rejects_an_impossible_minimum(
    capsys: pytest.CaptureFixture[str], minimum: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        _run_cli(["policy", "test", "--min-coverage", minimum])
    assert exited.value.code == 2
    assert "expected a percentage from 0 to 100" in capsys.readouterr().err


def test_coverage_counts_lines_the_selected_tests_evaluate(failing_bundle: Path) -> None:
    report = coverage_of(failing_bundle)
    assert [(f.name, f.covered, f.not_covered) for f in report.files] == [("demo.rego", (3,), ())]
    assert report.percent == 100.0
    # OPA counts a line covered when it evaluates to true: bob's test reaches the line, but
    # `input.user == "alice"` is false there.
    only_bob = run_suite(failing_bundle, re.compile("bob"), coverage=True).coverage
    assert only_bob is not None
    assert (only_bob.files[0].percent, only_bob.percent) == (0.0, 0.0)


CLOCK_MODULE = """package clock

default now := "2026-06-01T12:00:00Z"

now := data.test_clock.now

expires := "2030-12-31T23:59:59Z"
"""

CLOCK_TESTS = """package clock_test

import data.clock

test_not_expired_yet if clock.now < clock.expires
"""


def test_now_sets_the_clock_the_fixtures_read(tmp_path: Path) -> None:
    (tmp_path / "clock.rego").write_text(CLOCK_MODULE)
    (tmp_path / "clock_test.rego").write_text(CLOCK_TESTS)
    assert [r.passed for r in run_tests(tmp_path)] == [True]
    assert [r.passed for r in run_tests(tmp_path, now=datetime(2030, 1, 1, tzinfo=UTC))] == [True]
    later = run_tests(tmp_path, now=datetime(2031, 1, 1, tzinfo=UTC))
    assert [(r.name, r.passed) for r in later] == [("test_not_expired_yet", False)]


def test_now_conflicting_with_a_data_document_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "clock.rego").write_text(CLOCK_MODULE)
    (tmp_path / "clock_test.rego").write_text(CLOCK_TESTS)
    (tmp_path / "test_clock.json").write_text('{"now": "x"}')
    (tmp_path / "test_clock.schema.json").write_text('{"type": "object"}')
    with pytest.raises(PolicyLoadError, match=re.escape("cannot set data.test_clock.now")):
        run_tests(tmp_path, now=datetime(2031, 1, 1, tzinfo=UTC))


def test_cli_now_shows_what_depends_on_an_agreement_in_force(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run as of 2031, after the US–Chile PCSC expires, the tests that rely on it fail."""
    selection = ["--run", r"agreements_test\.test_pcsc_(in_force_now|covers_verification)"]
    assert _run_cli(["policy", "test", *selection]) == 0
    capsys.readouterr()
    assert _run_cli(["policy", "test", *selection, "--now", "2031-01-01T00:00:00Z"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "FAIL data.broker.agreements_test.test_pcsc_in_force_now",
        "FAIL data.broker.agreements_test.test_pcsc_covers_verification",
        "0 passed, 2 failed",
    ]


def test_cli_rejects_a_now_that_is_not_rfc3339(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _run_cli(["policy", "test", "--now", "next tuesday"])
    assert exited.value.code == 2
    assert "expected an RFC 3339 date-time" in capsys.readouterr().err


def test_cli_rejects_an_invalid_regex(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _run_cli(["policy", "test", "--run", "("])
    assert exited.value.code == 2
    assert "invalid regular expression '('" in capsys.readouterr().err


def test_cli_defaults_to_the_shipped_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_cli.default_policy_dir() == POLICIES_DIR
    assert _run_cli(["policy", "test", "--run", r"^data\.broker\.purposes_test\."]) == 0
    out = capsys.readouterr().out
    assert "PASS data.broker.purposes_test.test_unknown_purpose_denied" in out


def test_real_cli_entry_point(failing_bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through broker.cli.main once every command group it imports exists."""
    main = pytest.importorskip("broker.cli.main", reason="other command groups not written yet")
    assert main.main(["policy", "test", str(failing_bundle)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 3 failed"
