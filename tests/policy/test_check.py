"""`broker policy check` and the check the broker runs before it loads a bundle: modules,
schemas, integrity, and the shape of the answers to sample inputs."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from broker.cli import policy as policy_cli
from broker.errors import PolicyLoadError
from broker.policy.bundle import PolicyBundle
from broker.policy.check import check_answers
from broker.policy.embedded import EmbeddedEngine
from broker.policy.pool import IsolatedEngine
from broker.policy.samples import decision_samples
from tests.policy.scenario import NOW

BROKER_DECISION = "allow if {\n\tagencies.subject_verified"


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    policy_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


def _check(directory: Path) -> None:
    bundle = PolicyBundle.load(directory, compile_now=False)
    engine = IsolatedEngine(bundle, workers=1, timeout=0.5)
    try:
        check_answers(bundle, engine, NOW)
    finally:
        engine.close()


def test_the_shipped_library_passes(bundle: PolicyBundle, engine: EmbeddedEngine) -> None:
    report = check_answers(bundle, engine, NOW)
    assert report.revision == bundle.revision
    assert report.documents == tuple(sorted(bundle.data))
    assert report.decisions == len(decision_samples(bundle.data, NOW)) > 100
    assert 0 < report.allowed < report.decisions
    assert report.releases > 10


def test_samples_cover_every_purpose_operation_and_agency(bundle: PolicyBundle) -> None:
    samples = decision_samples(bundle.data, NOW)
    seen = {
        (s.input["subject"]["agency"], s.input["request"]["purpose"], s.operation)
        for s in samples
        if s.input
    }
    for agency in bundle.data["agencies"]:
        for purpose, entry in bundle.data["purposes"].items():
            for operation in entry["operations"]:
                assert (agency, purpose, operation) in seen
    assert {s.name for s in samples} >= {"an empty input", "a filter on race", "no legal basis"}


def test_cli_check_passes_the_shipped_library(capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_cli(["policy", "check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok  16 modules parse and compile"
    assert lines[1].startswith("ok  9 data documents match their schemas: agencies, agreements")
    assert re.fullmatch(r"ok  \d+ sample decisions have the documented shape .*", lines[3])
    assert re.fullmatch(r"revision [0-9a-f]{64}", lines[-1])


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_an_obligation_the_broker_does_not_understand_is_refused(policy_copy: Path) -> None:
    _edit(
        policy_copy / "decision.rego",
        '"human_review_required": human_review_required,\n}',
        '"human_review_required": human_review_required,\n\t"share_with_press": true,\n}',
    )
    with pytest.raises(
        PolicyLoadError, match=r"sample '.*': .*not understood: \['share_with_press'\]"
    ):
        _check(policy_copy)


def test_a_denial_that_obliges_something_is_refused(policy_copy: Path) -> None:
    _edit(
        policy_copy / "decision.rego",
        '"reasons": deny_reasons, "obligations": {}}',
        '"reasons": deny_reasons, "obligations": {"max_results": 1}}',
    )
    with pytest.raises(PolicyLoadError, match=re.escape("a denial must oblige nothing")):
        _check(policy_copy)


def test_a_decision_without_reasons_is_refused(policy_copy: Path) -> None:
    _edit(
        policy_copy / "decision.rego",
        '{"allow": false, "reasons": deny_reasons, "obligations": {}}',
        '{"allow": false, "reasons": [], "obligations": {}}',
    )
    with pytest.raises(PolicyLoadError, match="a decision must give its reasons"):
        _check(policy_copy)


def test_a_release_that_forgets_a_candidate_is_refused(policy_copy: Path) -> None:
    _edit(
        policy_copy / "release.rego",
        "\t\tnot releasable(c)\n\t],",
        '\t\tnot releasable(c)\n\t\tc.record_id != "sample-US"\n\t],',
    )
    with pytest.raises(
        PolicyLoadError, match=r"sample 'release after .*': release: candidates neither released"
    ):
        _check(policy_copy)


def test_a_policy_that_loops_on_every_input_is_refused(policy_copy: Path) -> None:
    (policy_copy / "slow.rego").write_text(
        "package broker.slow\n\nloops if {\n\tevery i in numbers.range(1, 20000) {\n"
        "\t\tevery j in numbers.range(1, 20000) {\n\t\t\ti + j > 0\n\t\t}\n\t}\n}\n"
    )
    _edit(
        policy_copy / "decision.rego",
        BROKER_DECISION,
        "allow if {\n\tnot data.broker.slow.loops\n\tagencies.subject_verified",
    )
    with pytest.raises(PolicyLoadError, match="took longer than the decision deadline"):
        _check(policy_copy)


def test_cli_check_names_the_file_and_field_at_fault(
    policy_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = policy_copy / "agreements.json"
    agreements = json.loads(path.read_text())
    agreements["fbi-wa-dol-mou"]["offence_floor_months"] = "felonies"
    path.write_text(json.dumps(agreements))
    assert _run_cli(["policy", "check", str(policy_copy)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        f"FAIL {policy_copy}: agreements.json: fbi-wa-dol-mou/offence_floor_months:"
    )


def test_cli_check_reports_a_module_that_does_not_compile(
    policy_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policy_copy / "unsafe.rego").write_text("package broker.unsafe\n\nallow if { y == 1 }\n")
    assert _run_cli(["policy", "check", str(policy_copy)]) == 1
    assert "unsafe.rego:3" in capsys.readouterr().out
