"""Runs a bundle's Rego tests (`test_*` rules in `*_test.rego`) with the embedded engine.

Tests are found with OPA's own parser (the `rego.parse_module` built-in), so what counts
as a test rule is what OPA reads, not a guess from the text. A test passes iff its rule
evaluates to `true`; false, undefined and any other value fail; an evaluation error is a
failure carrying the error. As with `opa test`, tests run without input.

OPA prepares every distinct query once, at a cost of tens of milliseconds, so each test
package is evaluated as one document. Only a package whose evaluation raises an error is
run again test by test, so that the error lands on the test that raised it.

Coverage is OPA's own line coverage of the bundle's modules (not its tests), gathered from
the same evaluations: a line counts as covered when any selected test evaluates it. `now`
sets `data.test_clock.now` for the run; the shipped fixtures read their clock from it, so a
suite can be run as of a future date (see policies/README.md).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from opa_bindings import OpaEngine, OpaError

from broker.errors import PolicyLoadError
from broker.policy.bundle import PolicyBundle
from broker.policy.compiler import compile_engine
from broker.rfc3339 import format_utc

TEST_PREFIX = "test_"
# Where `now` goes: the fixtures' clock reads data.test_clock.now when it is defined.
TEST_CLOCK_DOCUMENT = "test_clock"


@dataclass(frozen=True)
class TestCase:
    """One test rule: `data.<package>.<name>`."""

    __test__ = False  # not a pytest class

    package_path: tuple[str, ...]
    name: str

    @property
    def package(self) -> str:
        return ".".join(self.package_path)

    @property
    def full_name(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True)
class TestResult:
    """The verdict on one test. Tests of one package are evaluated together and share its
    evaluation time equally in `duration_s`, unless the package had to be run test by test."""

    __test__ = False  # not a pytest class

    package: str
    name: str
    passed: bool
    error: str | None
    duration_s: float

    @property
    def full_name(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass(frozen=True)
class FileCoverage:
    """OPA's line coverage of one module: lines evaluated by some test, lines by none."""

    name: str
    covered: tuple[int, ...]
    not_covered: tuple[int, ...]

    @property
    def percent(self) -> float:
        lines = len(self.covered) + len(self.not_covered)
        return 100.0 * len(self.covered) / lines if lines else 100.0


@dataclass(frozen=True)
class CoverageReport:
    files: tuple[FileCoverage, ...]

    @property
    def percent(self) -> float:
        """Covered lines over all coverable lines of every module."""
        covered = sum(len(f.covered) for f in self.files)
        lines = covered + sum(len(f.not_covered) for f in self.files)
        return 100.0 * covered / lines if lines else 100.0


@dataclass(frozen=True)
class SuiteResult:
    results: tuple[TestResult, ...]
    coverage: CoverageReport | None


def run_tests(
    directory: Path, pattern: re.Pattern[str] | None = None, *, now: datetime | None = None
) -> list[TestResult]:
    """Loads the bundle in `directory` with its tests and runs every test whose full name
    (`data.pkg.test_x`) matches `pattern` (re.search), in file then source order."""
    return list(run_suite(directory, pattern, now=now).results)


def run_suite(
    directory: Path,
    pattern: re.Pattern[str] | None = None,
    *,
    now: datetime | None = None,
    coverage: bool = False,
) -> SuiteResult:
    """run_tests, and with `coverage` the line coverage of the bundle's modules."""
    bundle = PolicyBundle.load(directory)
    engine = compile_engine({**bundle.modules, **bundle.test_modules}, bundle.data)
    try:
        if now is not None:
            _set_clock(engine, now)
        cases = [c for c in discover(engine, bundle.test_modules) if _selected(c, pattern)]
        verdicts: dict[TestCase, TestResult] = {}
        tally = _Tally(bundle.modules) if coverage else None
        for group in _by_package(cases):
            verdicts.update(_run_package(engine, group, tally))
        return SuiteResult(
            tuple(verdicts[case] for case in cases), tally.report() if tally else None
        )
    finally:
        engine.close()


def untested_lines(directory: Path) -> dict[str, tuple[int, ...]]:
    """Lines of each (non-test) module that no test evaluates, by file: the tests together
    should leave none."""
    return {f.name: f.not_covered for f in coverage_of(directory).files if f.not_covered}


def coverage_of(directory: Path) -> CoverageReport:
    """The line coverage of the bundle's modules by all of its tests."""
    return run_suite(directory, coverage=True).coverage or CoverageReport(())


class _Tally:
    """Lines covered and not covered, by module, over several evaluations."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._covered: dict[str, set[int]] = {name: set() for name in modules}
        self._not_covered: dict[str, set[int]] = {name: set() for name in modules}

    def add(self, report: Mapping[str, Any] | None) -> None:
        for name, lines in (report or {}).get("files", {}).items():
            if name in self._covered:
                self._covered[name] |= _rows(lines.get("covered", []))
                self._not_covered[name] |= _rows(lines.get("not_covered", []))

    def report(self) -> CoverageReport:
        return CoverageReport(
            tuple(
                FileCoverage(
                    name,
                    tuple(sorted(self._covered[name])),
                    tuple(sorted(self._not_covered[name] - self._covered[name])),
                )
                for name in sorted(self._covered)
            )
        )


def _set_clock(engine: OpaEngine, now: datetime) -> None:
    try:
        engine.add_data({TEST_CLOCK_DOCUMENT: {"now": format_utc(now)}})
    except OpaError as e:
        raise PolicyLoadError(
            f"cannot set data.{TEST_CLOCK_DOCUMENT}.now: {e.message} "
            f"(does the bundle have a {TEST_CLOCK_DOCUMENT}.json?)"
        ) from e


def discover(engine: OpaEngine, test_modules: Mapping[str, str]) -> list[TestCase]:
    """The test rules of each module: rules named `test_*` without arguments, once each."""
    cases: list[TestCase] = []
    for file_name in sorted(test_modules):
        module = _parse_module(engine, file_name, test_modules[file_name])
        path = _package_path(file_name, module)
        for name in _test_rule_names(module):
            case = TestCase(path, name)
            if case not in cases:
                cases.append(case)
    return cases


def _run_package(
    engine: OpaEngine, group: list[TestCase], tally: _Tally | None
) -> dict[TestCase, TestResult]:
    started = time.perf_counter()
    try:
        bindings = engine.eval_query(
            f"result := {_ref(group[0].package_path)}", coverage=tally is not None
        )
    except OpaError:
        return {case: _run_one(engine, case, tally) for case in group}
    if tally is not None:
        tally.add(engine.last_coverage)
    share = (time.perf_counter() - started) / len(group)
    document = bindings[0]["result"] if bindings else {}
    values = document if isinstance(document, dict) else {}
    return {
        case: TestResult(case.package, case.name, values.get(case.name) is True, None, share)
        for case in group
    }


def _run_one(engine: OpaEngine, case: TestCase, tally: _Tally | None) -> TestResult:
    started = time.perf_counter()
    try:
        bindings = engine.eval_query(
            f"result := {_ref((*case.package_path, case.name))}", coverage=tally is not None
        )
        passed, error = bindings == [{"result": True}], None
        if tally is not None:
            tally.add(engine.last_coverage)
    except OpaError as e:
        passed, error = False, e.message  # a test in error covers nothing
    return TestResult(case.package, case.name, passed, error, time.perf_counter() - started)


def _by_package(cases: list[TestCase]) -> list[list[TestCase]]:
    groups: dict[tuple[str, ...], list[TestCase]] = {}
    for case in cases:
        groups.setdefault(case.package_path, []).append(case)
    return list(groups.values())


def _selected(case: TestCase, pattern: re.Pattern[str] | None) -> bool:
    return pattern is None or pattern.search(case.full_name) is not None


def _parse_module(engine: OpaEngine, file_name: str, source: str) -> dict[str, Any]:
    try:
        bindings = engine.eval_query(
            "module := rego.parse_module(input.name, input.source)",
            {"name": file_name, "source": source},
        )
    except OpaError as e:
        raise PolicyLoadError(f"{file_name}: {e.message}") from e
    module: dict[str, Any] = bindings[0]["module"]
    return module


def _package_path(file_name: str, module: dict[str, Any]) -> tuple[str, ...]:
    terms = module["package"]["path"][1:]  # the first term is `data`
    if not all(term.get("type") == "string" for term in terms):
        raise PolicyLoadError(f"{file_name}: unsupported package path")
    return tuple(str(term["value"]) for term in terms)


def _test_rule_names(module: dict[str, Any]) -> Iterator[str]:
    for rule in module.get("rules", []):
        head = rule.get("head", {})
        name = head.get("name")
        if (
            isinstance(name, str)
            and name.startswith(TEST_PREFIX)
            and len(head.get("ref", [])) == 1
            and not head.get("args")
        ):
            yield name


def _ref(path: tuple[str, ...]) -> str:
    """`data["pkg"]["test_x"]`: quoted keys are valid whatever the names (keywords too)."""
    return "data" + "".join(f"[{json.dumps(part)}]" for part in path)


def _rows(ranges: list[dict[str, Any]]) -> set[int]:
    return {
        row
        for span in ranges
        for row in range(int(span["start"]["row"]), int(span["end"]["row"]) + 1)
    }
