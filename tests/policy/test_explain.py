"""`broker policy explain` and `broker policy diff`, as a compliance officer runs them."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import pytest

from broker.cli import policy as policy_cli
from broker.errors import InvalidRequestError
from broker.policy.diff import read_cases
from broker.policy.request_input import request_to_input
from tests.policy.scenario import (
    FBI_INVESTIGATOR,
    PDI_INVESTIGATOR,
    POLICIES_DIR,
    identify_input,
    record,
)

EXAMPLES = POLICIES_DIR / "examples"


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    policy_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


def _explain(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    assert _run_cli(["policy", "explain", *argv]) == 0
    return capsys.readouterr().out.splitlines()


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


# --- explain --request ---


def test_explain_an_allowed_request_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _explain(capsys, "--request", str(EXAMPLES / "fbi_felony_face_search.request.json"))
    assert lines[0].startswith(f"Policy bundle: {POLICIES_DIR} (revision ")
    assert "(no probe given: a placeholder stands in; only its digest is seen)" in lines
    assert (
        "Request: us-fbi (officer sa.morgan, roles investigator, US) asks to identify (face)"
        in lines
    )
    assert "Decision: ALLOWED" in lines
    why = lines[
        lines.index("Why:") + 1 : lines.index(
            "Agreements that opened something for this request (their limits bind it):"
        )
    ]
    assert (
        "  - allowed: criminal_investigation permits identify by role investigator under "
        "warrant OR-CIRC-2026-1187" in why
    )
    assert any(
        line.startswith("  - retention_limit: US-OR-RIVERTON face records: 1825 days")
        for line in why
    )
    assert any(line.startswith("  - fbi-wa-dol-mou: Illustrative memorandum") for line in lines)
    obligations = lines[lines.index("Obligations (what the broker must do):") + 1 :]
    assert obligations == [
        "  - do not search or release records from: CL",
        "  - a person must review the candidates before anyone acts on them",
        "  - return at most 5 candidates",
        "  - release no candidate scoring below 0.5",
        "  - search no record captured before 2016-06-03T12:00:00Z (past every retention "
        "limit of the origins searched)",
        "  - release only records whose consent covers 'criminal_investigation'",
        "  - the caller must delete results shared under an agreement by 2026-08-30T12:00:00Z",
    ]


def test_explain_a_denied_request(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _explain(capsys, "--request", str(EXAMPLES / "hsi_sanctuary_face_search.request.json"))
    assert "Decision: DENIED" in lines
    assert (
        "  - origin_excluded: US-OR-RIVERTON: US-OR-RIVERTON forbids immigration_enforcement"
        in lines
    )
    assert lines[-1] == "Obligations: none (a denial obliges nothing)"


def test_explain_shows_the_input_the_broker_would_build(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = _explain(
        capsys,
        "--request",
        str(EXAMPLES / "fbi_felony_face_search.request.json"),
        "--show-input",
    )
    shown = json.loads("\n".join(lines[lines.index("Policy input:") + 1 :]))
    assert shown["request"]["offence"] == "armed_robbery"
    assert shown["subject"]["agency"] == "us-fbi"
    assert {p["origin_jurisdiction"] for p in shown["resource"]["partitions"]} == {
        "US",
        "US-OR",
        "US-OR-RIVERTON",
        "US-WA",
        "CL",
    }
    assert re.fullmatch(r"[0-9a-f]{64}", shown["request"]["template_digest"])


def test_request_with_a_probe_partitions_and_verify() -> None:
    request = json.loads((EXAMPLES / "fbi_felony_face_search.request.json").read_text())
    request["probe"] = [0.5] * 512
    request["partitions"] = ["US"]
    policy_input, placeholder = request_to_input(request, jurisdictions={}, revision="r")
    assert not placeholder
    assert policy_input["resource"]["partitions"] == [
        {"origin_jurisdiction": "US", "modality": "face"}
    ]
    verify = {k: v for k, v in request.items() if k not in {"maxResults", "partitions"}}
    verify.update(operation="verify", recordId="us-fbi:p012:face:0")
    policy_input, _ = request_to_input(verify, jurisdictions={}, revision="r")
    assert policy_input["request"]["operation"] == "verify"
    assert policy_input["resource"] == {"record_id": "us-fbi:p012:face:0"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"subject": None}, "subject"),
        ({"subject": {"agency": "us-fbi"}}, "subject.officer"),
        ({"now": "tomorrow"}, "now"),
        ({"maxResults": 500}, "max_results"),
        ({"modality": "MODALITY_IRIS"}, "(request)"),
        ({"probe": [1.0, 2.0]}, "probe"),
        ({"partitions": "US"}, "partitions"),
        ({"operation": "enroll"}, "operation"),
        ({"justification": {"purpose": "", "caseId": "C"}}, "justification.purpose"),
        ({"shoeSize": 44}, "(request)"),
    ],
)
def test_a_bad_request_names_the_field(change: dict[str, object], field: str) -> None:
    request = json.loads((EXAMPLES / "fbi_felony_face_search.request.json").read_text())
    request.update(change)
    with pytest.raises(InvalidRequestError) as raised:
        request_to_input(request, jurisdictions={}, revision="r")
    assert raised.value.field == field


def test_cli_explain_reports_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "r.json").write_text("{not json")
    assert _run_cli(["policy", "explain", "--request", str(tmp_path / "r.json")]) == 1
    assert "invalid JSON" in capsys.readouterr().err
    assert _run_cli(["policy", "explain", "--input", str(tmp_path / "missing.json")]) == 1
    assert "cannot be read" in capsys.readouterr().err


# --- explain --input ---


def test_explain_a_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from broker.models import Candidate

    decision_input = identify_input(
        PDI_INVESTIGATOR, "criminal_investigation", "treaty_request", "fingerprint"
    )
    candidates = [
        Candidate("rec-federal", 0.8, record("US", ("us-fbi",))),
        Candidate("rec-licence", 0.8, record("US-WA", ("wa-dol",))),
        Candidate("rec-weak", 0.3, record("US", ("us-fbi",))),
    ]
    document = {**decision_input, "candidates": [c.to_policy() for c in candidates]}
    path = _write(tmp_path / "in.json", document)
    lines = _explain(capsys, "--input", str(path))
    assert "Decision: ALLOWED" in lines
    assert "Release: rec-federal released" in lines
    assert any(
        line.startswith("  - rec-licence withheld, no_agency_agreement: US-WA admits")
        for line in lines
    )
    assert "  - rec-weak withheld, below_min_score: score 0.3 is below the minimum 0.5" in lines


def test_explain_what_the_broker_does_with_a_malformed_answer(
    policy_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    decision = policy_copy / "decision.rego"
    decision.write_text(
        decision.read_text().replace(
            '"human_review_required": human_review_required,\n}',
            '"human_review_required": human_review_required,\n\t"share_with_press": true,\n}',
        )
    )
    path = _write(
        tmp_path / "in.json",
        identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face"),
    )
    lines = _explain(capsys, "--policies", str(policy_copy), "--input", str(path))
    assert "Decision: DENIED" in lines
    assert any(
        line.startswith("  The broker denies: policy_error: the policy's answer cannot be acted on")
        and "share_with_press" in line
        for line in lines
    )


def test_explain_a_policy_too_slow_for_the_deadline(
    policy_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (policy_copy / "slow.rego").write_text(
        'package broker.slow\n\nloops if {\n\tinput.request.case_id == "slow"\n'
        "\tevery i in numbers.range(1, 20000) {\n\t\tevery j in numbers.range(1, 20000) {\n"
        "\t\t\ti + j > 0\n\t\t}\n\t}\n}\n"
    )
    decision = policy_copy / "decision.rego"
    decision.write_text(
        decision.read_text().replace(
            "allow if {\n\tagencies.subject_verified",
            "allow if {\n\tnot data.broker.slow.loops\n\tagencies.subject_verified",
        )
    )
    slow = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    slow["request"]["case_id"] = "slow"
    path = _write(tmp_path / "in.json", slow)
    lines = _explain(
        capsys, "--policies", str(policy_copy), "--input", str(path), "--timeout", "0.3"
    )
    assert "Decision: DENIED" in lines
    assert any(line.startswith("  The broker denies: decision_timeout") for line in lines)


# --- diff ---


@pytest.fixture
def candidate(policy_copy: Path) -> Path:
    """The shipped library with a tighter cap and a higher immigration floor."""
    path = policy_copy / "purposes.json"
    purposes = json.loads(path.read_text())
    purposes["criminal_investigation"]["max_results"] = 5
    purposes["immigration_enforcement"]["min_score"]["face"] = 0.55
    purposes["missing_person"]["legal_bases"] = ["case_file"]
    path.write_text(json.dumps(purposes))
    shutil.rmtree(policy_copy / "examples")
    return policy_copy


def test_diff_shows_where_a_candidate_decides_differently(
    candidate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = EXAMPLES / "decision_inputs.jsonl"
    assert _run_cli(["policy", "diff", "--against", str(candidate), "--inputs", str(inputs)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"active:    {POLICIES_DIR} (revision ")
    assert out[1].startswith(f"candidate: {candidate} (revision ")
    assert "DIFFERS FBI face search for a criminal investigation: obligations" in out
    assert "  max_results: 10 -> 5" in out
    assert "DIFFERS HSI face search for immigration enforcement: obligations" in out
    assert "  min_score: 0.5 -> 0.55" in out
    assert "DIFFERS FBI missing-person face search with consent: allow" in out
    index = out.index("DIFFERS FBI missing-person face search with consent: allow")
    assert out[index + 1].startswith("  active:    allow; ")
    assert out[index + 2] == "  candidate: deny (legal_basis_not_accepted)"
    assert out[-1] == "10 inputs: 5 agree, 5 differ"


def test_diff_of_a_bundle_with_itself_finds_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = _write(
        tmp_path / "inputs.json",
        [identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face"), {}],
    )
    argv = [
        "policy",
        "diff",
        str(POLICIES_DIR),
        "--against",
        str(POLICIES_DIR),
        "--inputs",
        str(inputs),
    ]
    assert _run_cli(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 inputs: 2 agree, 0 differ"


def test_diff_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inputs = _write(tmp_path / "inputs.json", [1])
    argv = ["policy", "diff", "--against", str(POLICIES_DIR), "--inputs", str(inputs)]
    assert _run_cli(argv) == 2
    assert f"{inputs}[0]: expected a JSON object" in capsys.readouterr().err
    argv = [
        "policy",
        "diff",
        "--against",
        str(tmp_path / "nowhere"),
        "--inputs",
        str(EXAMPLES / "decision_inputs.jsonl"),
    ]
    assert _run_cli(argv) == 2
    assert "cannot list the bundle" in capsys.readouterr().err


def test_inputs_files_in_either_form(tmp_path: Path) -> None:
    doc = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    array = _write(tmp_path / "a.json", [doc, {"name": "named", "input": doc}])
    assert [c.name for c in read_cases(array)] == ["#0", "named"]
    lines = tmp_path / "b.jsonl"
    lines.write_text(json.dumps(doc) + "\n\n" + json.dumps({"input": doc}) + "\n")
    assert [c.name for c in read_cases(lines)] == ["#0", "#1"]
    lines.write_text(json.dumps(doc) + "\n{oops\n")
    with pytest.raises(InvalidRequestError, match=re.escape(f"{lines}:2")):
        read_cases(lines)
    bad_name = _write(tmp_path / "c.json", [{"name": 7, "input": doc}])
    with pytest.raises(
        InvalidRequestError, match=re.escape("expected {name: string, input: object}")
    ):
        read_cases(bad_name)
