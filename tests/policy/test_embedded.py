"""The embedded engine with the shipped library: real OPA, real policies, realistic inputs
built from the broker's models, and the round trip the pipeline makes (decide, then release
with the decision's obligations)."""

from __future__ import annotations

import copy
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.errors import PolicyError, PolicyLoadError
from broker.models import Candidate, Obligations, Reason, Release, Withheld
from broker.policy.bundle import PolicyBundle
from broker.policy.embedded import EmbeddedEngine
from broker.policy.engine import PolicyEngine
from tests.policy.scenario import (
    FBI_INVESTIGATOR,
    HSI_OFFICER,
    PDI_INVESTIGATOR,
    identify_input,
    record,
    release_input,
)


def test_embedded_engine_is_a_policy_engine(engine: EmbeddedEngine, bundle: PolicyBundle) -> None:
    typed: PolicyEngine = engine
    assert typed.revision == bundle.revision


def test_domestic_identify_allowed_with_obligations(engine: EmbeddedEngine) -> None:
    decision = engine.decide(
        identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    )
    assert decision.allow
    assert decision.obligations == Obligations(
        max_results=10,
        min_score=0.45,
        exclude_origins=("CL", "US-WA"),
        required_consent_scope="criminal_investigation",
        not_captured_before=datetime(2016, 6, 3, 12, tzinfo=UTC),
        human_review_required=False,
    )
    assert decision.reasons[0] == Reason(
        "allowed",
        "criminal_investigation permits identify by role investigator under warrant REF-2026-001",
    )


def test_chilean_fingerprint_identify_allowed_by_the_agreement(engine: EmbeddedEngine) -> None:
    decision = engine.decide(
        identify_input(PDI_INVESTIGATOR, "criminal_investigation", "treaty_request", "fingerprint")
    )
    assert decision.allow
    assert (
        Reason(
            "allowed_by_agreement",
            "us-cl-pcsc: US–Chile PCSC, between US and CL, in force until 2030-12-31",
        )
        in decision.reasons
    )
    assert decision.obligations.max_results == 5
    assert decision.obligations.min_score == 0.5
    assert decision.obligations.human_review_required is True
    assert decision.obligations.exclude_origins == ("US-WA",)
    assert decision.obligations.results_retain_until == datetime(2027, 6, 1, 12, tzinfo=UTC)


def test_felony_face_search_reaches_washington_under_the_agency_agreement(
    engine: EmbeddedEngine,
) -> None:
    plain = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    assert "US-WA" in engine.decide(plain).obligations.exclude_origins
    felony = identify_input(
        FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face", offence="armed_robbery"
    )
    decision = engine.decide(felony)
    assert decision.allow
    assert decision.obligations.exclude_origins == ("CL",)
    assert decision.obligations.max_results == 5
    assert decision.obligations.human_review_required is True
    assert decision.obligations.results_retain_until == datetime(2026, 8, 30, 12, tzinfo=UTC)
    candidates = [Candidate("rec-licence", 0.8, record("US-WA", ("wa-dol",)))]
    for policy_input, verdict in [(felony, decision), (plain, engine.decide(plain))]:
        release = engine.release(
            release_input(policy_input, verdict.obligations.to_json(), candidates)
        )
        expected = ("rec-licence",) if policy_input is felony else ()
        assert release.released == expected


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"subject": {"agency": "acme-private-eyes"}}, "unknown_agency"),
        ({"subject": {"jurisdiction": "US-OR"}}, "agency_jurisdiction_mismatch"),
        ({"request": {"purpose": "curiosity"}}, "unknown_purpose"),
        ({"request": {"legal_basis": {"type": "warrant", "reference": ""}}}, "missing_legal_basis"),
        (
            {"request": {"legal_basis": {"type": "consent", "reference": "C"}}},
            "legal_basis_not_accepted",
        ),
        ({"subject": {"roles": ["records_officer"]}}, "role_not_permitted"),
        ({"request": {"filters": {"religion": "x"}}}, "protected_attribute_filter"),
        ({"request": {"filters": {"eye_colour": "x"}}}, "unsupported_filter"),
        ({"request": {"max_results": 0}}, "invalid_max_results"),
        ({"request": {"operation": "browse"}}, "unknown_operation"),
    ],
)
def test_denials_say_why(engine: EmbeddedEngine, change: dict[str, Any], code: str) -> None:
    policy_input = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    for part, fields in change.items():
        policy_input[part].update(fields)
    decision = engine.decide(policy_input)
    assert not decision.allow
    assert code in [reason.code for reason in decision.reasons]
    assert decision.obligations == Obligations()


def test_cross_border_face_search_without_agreement_denied(engine: EmbeddedEngine) -> None:
    policy_input = identify_input(PDI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    policy_input["request"]["target_origins"] = ["US"]
    decision = engine.decide(policy_input)
    assert not decision.allow
    assert {r.code for r in decision.reasons} == {"no_searchable_partition", "origin_excluded"}


def test_immigration_release_withholds_the_sanctuary_citys_records(engine: EmbeddedEngine) -> None:
    """The whole path: decide, then release with the obligations the broker parsed."""
    policy_input = identify_input(HSI_OFFICER, "immigration_enforcement", "warrant", "face")
    decision = engine.decide(policy_input)
    assert decision.allow
    assert decision.obligations.exclude_origins == ("CL", "US-OR-RIVERTON", "US-WA")
    candidates = [
        Candidate("rec-oregon", 0.93, record("US-OR", ("or-fusion",))),
        Candidate("rec-riverton", 0.92, record("US-OR-RIVERTON", ("riverton-pd",))),
        Candidate("rec-fusion-copy", 0.91, record("US-OR-RIVERTON", ("riverton-pd", "or-fusion"))),
        Candidate("rec-relabelled", 0.90, record("US-OR", ("riverton-pd", "or-fusion"))),
        Candidate(
            "rec-withdrawn",
            0.88,
            record("US", ("us-fbi",), consent_withdrawn_at=datetime(2026, 1, 1, tzinfo=UTC)),
        ),
        Candidate(
            "rec-no-consent", 0.87, record("US", ("us-fbi",), consent_scopes=("missing_person",))
        ),
        Candidate("rec-federal", 0.75, record("US", ("us-fbi",))),
        Candidate("rec-weak", 0.45, record("US", ("us-fbi",))),
    ]
    release = engine.release(
        release_input(policy_input, decision.obligations.to_json(), candidates)
    )
    assert release == Release(
        released=("rec-oregon", "rec-federal"),
        withheld=(
            Withheld("rec-riverton", ("jurisdiction_forbids_purpose", "origin_excluded")),
            Withheld("rec-fusion-copy", ("jurisdiction_forbids_purpose", "origin_excluded")),
            Withheld("rec-relabelled", ("jurisdiction_forbids_purpose",)),
            Withheld("rec-withdrawn", ("consent_withdrawn",)),
            Withheld("rec-no-consent", ("consent_scope_missing",)),
            Withheld("rec-weak", ("below_min_score",)),
        ),
    )


def test_release_withholds_expired_records(engine: EmbeddedEngine) -> None:
    policy_input = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    decision = engine.decide(policy_input)
    six_years_ago = datetime(2020, 5, 1, tzinfo=UTC)
    candidates = [
        Candidate(
            "rec-riverton-old",
            0.9,
            record("US-OR-RIVERTON", ("riverton-pd",), captured_at=six_years_ago),
        ),
        Candidate(
            "rec-oregon-old", 0.9, record("US-OR", ("or-fusion",), captured_at=six_years_ago)
        ),
        Candidate(
            "rec-past-retain-until",
            0.9,
            record("US", ("us-fbi",), retain_until=datetime(2026, 5, 1, tzinfo=UTC)),
        ),
    ]
    release = engine.release(
        release_input(policy_input, decision.obligations.to_json(), candidates)
    )
    assert release.released == ("rec-oregon-old",)
    assert {w.record_id: w.reasons for w in release.withheld} == {
        "rec-riverton-old": ("retention_expired",),
        "rec-past-retain-until": ("retention_expired",),
    }


def test_undefined_input_fails_closed(engine: EmbeddedEngine) -> None:
    """An input the policy cannot even read is still a decision: a denial, not a crash."""
    decision = engine.decide({})
    assert not decision.allow
    assert decision.reasons


def test_malformed_timestamp_is_a_policy_error(engine: EmbeddedEngine) -> None:
    policy_input = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    policy_input["context"]["now"] = "yesterday"
    with pytest.raises(PolicyError, match=re.escape("time.parse_rfc3339_ns")):
        engine.decide(policy_input)


def test_input_that_is_not_json_is_a_policy_error(engine: EmbeddedEngine) -> None:
    policy_input = identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face")
    policy_input["context"]["now"] = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(PolicyError, match="not JSON"):
        engine.decide(policy_input)


def test_malformed_release_input_is_a_policy_error(engine: EmbeddedEngine) -> None:
    with pytest.raises(PolicyError, match=re.escape("input.candidates")):
        engine.release({"candidates": None})


def _engine_with(directory: Path, name: str, source: str) -> EmbeddedEngine:
    (directory / name).write_text(source)
    return EmbeddedEngine(PolicyBundle.load(directory))


def test_undefined_decision_is_a_policy_error(tmp_path: Path) -> None:
    engine = _engine_with(tmp_path, "p.rego", "package broker\n\nx := 1\n")
    with pytest.raises(PolicyError, match=re.escape("data.broker.decision is undefined")):
        engine.decide({"request": {"operation": "identify"}})
    with pytest.raises(PolicyError, match=re.escape("data.broker.release is undefined")):
        engine.release({"candidates": []})


def test_decision_of_the_wrong_shape_is_a_policy_error(tmp_path: Path) -> None:
    engine = _engine_with(
        tmp_path,
        "p.rego",
        'package broker\n\ndecision := {"allow": true, "reasons": [], '
        '"obligations": {"max_results": 5, "share_with_partners": true}}\n',
    )
    with pytest.raises(PolicyError, match="not understood: \\['share_with_partners'\\]"):
        engine.decide({"request": {"operation": "identify"}})


def test_release_of_a_stranger_is_a_policy_error(tmp_path: Path) -> None:
    engine = _engine_with(
        tmp_path,
        "p.rego",
        'package broker\n\nrelease := {"released": ["rec-9"], "withheld": []}\n',
    )
    with pytest.raises(PolicyError, match="'rec-9' is not one of the candidates"):
        engine.release({"candidates": []})


def test_evaluation_error_is_a_policy_error(tmp_path: Path) -> None:
    engine = _engine_with(tmp_path, "p.rego", "package broker\n\ndecision := 1 / input.zero\n")
    with pytest.raises(PolicyError, match="divide by zero"):
        engine.decide({"zero": 0})


def test_closed_engine_is_a_policy_error(tmp_path: Path) -> None:
    engine = _engine_with(tmp_path, "p.rego", "package broker\n\nx := 1\n")
    engine.close()
    with pytest.raises(PolicyError, match="closed"):
        engine.decide({})


def test_bundle_that_does_not_compile_is_a_load_error(tmp_path: Path) -> None:
    """EmbeddedEngine compiles at construction, whatever the bundle object claims."""
    good = tmp_path / "good"
    good.mkdir()
    (good / "p.rego").write_text("package broker\n\nx := 1\n")
    loaded = PolicyBundle.load(good)
    broken = PolicyBundle(
        directory=good,
        modules={"p.rego": "package broker\n\nx := y\n"},
        test_modules={},
        data={},
        revision=loaded.revision,
    )
    with pytest.raises(PolicyLoadError, match=re.escape("p.rego")):
        EmbeddedEngine(broken)


def test_one_engine_serves_many_threads(engine: EmbeddedEngine) -> None:
    inputs = [
        identify_input(FBI_INVESTIGATOR, "criminal_investigation", "warrant", "face"),
        identify_input(HSI_OFFICER, "immigration_enforcement", "warrant", "face"),
        identify_input(PDI_INVESTIGATOR, "criminal_investigation", "warrant", "fingerprint"),
    ]
    expected = [engine.decide(policy_input) for policy_input in inputs]
    work = [copy.deepcopy(inputs[i % 3]) for i in range(60)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(engine.decide, work))
    assert results == [expected[i % 3] for i in range(60)]
