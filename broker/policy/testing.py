"""Runs a bundle's Rego tests (`test_*` rules in `*_test.rego`) with the embedded engine.

Tests are found with OPA's own parser (the `rego.parse_module` built-in), so what counts
as a test rule is what OPA reads, not a guess from the text. A test passes iff its rule
evaluates to `true`; false, undefined and any other value fail; an evaluation error is a
failure carrying the error. As with `opa test`, tests run without input.

OPA prepares every distinct query once, at a cost of tens of milliseconds, so each test
package is evaluated as one document. Only a package whose evaluation raises an error is
run again test by test, so that the error lands on the test that raised it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opa_bindings import OpaEngine, OpaError

from broker.errors import PolicyLoadError
from broker.policy.bundle import PolicyBundle
from broker.policy.compiler import compile_engine

TEST_PREFIX = "test_"


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


def run_tests(directory: Path, pattern: re.Pattern[str] | None = None) -> list[TestResult]:
    """Loads the bundle in `directory` with its tests and runs every test whose full name
    (`data.pkg.test_x`) matches `pattern` (re.search), in file then source order."""
    bundle = PolicyBundle.load(directory)
    engine = compile_engine({**bundle.modules, **bundle.test_modules}, bundle.data)
    try:
        cases = [c for c in discover(engine, bundle.test_modules) if _selected(c, pattern)]
        verdicts: dict[TestCase, TestResult] = {}
        for group in _by_package(cases):
            verdicts.update(_run_package(engine, group))
        return [verdicts[case] for case in cases]
    finally:
        engine.close()


def untested_lines(directory: Path) -> dict[str, tuple[int, ...]]:
    """Lines of each (non-test) module that no test evaluates, by file: the tests together
    should leave none."""
    bundle = PolicyBundle.load(directory)
    engine = compile_engine({**bundle.modules, **bundle.test_modules}, bundle.data)
    covered: dict[str, set[int]] = {name: set() for name in bundle.modules}
    not_covered: dict[str, set[int]] = {name: set() for name in bundle.modules}
    try:
        for group in _by_package(discover(engine, bundle.test_modules)):
            try:
                refs = [_ref(group[0].package_path)]
                engine.eval_query(f"result := {refs[0]}")
            except OpaError:
                refs = [_ref((*case.package_path, case.name)) for case in group]
            for ref in refs:
                try:
                    engine.eval_query(f"result := {ref}", coverage=True)
                except OpaError:
                    continue  # a test in error covers nothing; run_tests reports it
                for name, report in (engine.last_coverage or {}).get("files", {}).items():
                    if name in bundle.modules:
                        covered[name] |= _rows(report.get("covered", []))
                        not_covered[name] |= _rows(report.get("not_covered", []))
    finally:
        engine.close()
    gaps = {name: tuple(sorted(not_covered[name] - covered[name])) for name in bundle.modules}
    return {name: lines for name, lines in gaps.items() if lines}


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


def _run_package(engine: OpaEngine, group: list[TestCase]) -> dict[TestCase, TestResult]:
    started = time.perf_counter()
    try:
        bindings = engine.eval_query(f"result := {_ref(group[0].package_path)}")
    except OpaError:
        return {case: _run_one(engine, case) for case in group}
    share = (time.perf_counter() - started) / len(group)
    document = bindings[0]["result"] if bindings else {}
    values = document if isinstance(document, dict) else {}
    return {
        case: TestResult(case.package, case.name, values.get(case.name) is True, None, share)
        for case in group
    }


def _run_one(engine: OpaEngine, case: TestCase) -> TestResult:
    started = time.perf_counter()
    try:
        bindings = engine.eval_query(f"result := {_ref((*case.package_path, case.name))}")
        passed, error = bindings == [{"result": True}], None
    except OpaError as e:
        passed, error = False, e.message
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
