"""Strict parsing of the decision and release documents: the broker refuses anything it
does not fully understand (DESIGN.md: "that is a deny")."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from broker.errors import PolicyError
from broker.models import Decision, Obligations, Reason, Release, Withheld
from broker.policy.decision import candidate_ids, parse_decision, parse_release

ALLOW: dict[str, Any] = {
    "allow": True,
    "reasons": [{"code": "allowed_by_agreement", "message": "US–Chile PCSC agreement us-cl-pcsc"}],
    "obligations": {
        "max_results": 5,
        "min_score": 0.6,
        "exclude_origins": ["US-OR-RIVERTON"],
        "required_consent_scope": "criminal_investigation",
        "not_captured_before": "2016-06-03T12:00:00Z",
        "human_review_required": True,
    },
}
DENY: dict[str, Any] = {
    "allow": False,
    "reasons": [{"code": "unknown_agency", "message": "agency acme is not known"}],
    "obligations": {},
}


def test_allow_is_parsed_in_full() -> None:
    assert parse_decision(ALLOW, "identify") == Decision(
        allow=True,
        reasons=(Reason("allowed_by_agreement", "US–Chile PCSC agreement us-cl-pcsc"),),
        obligations=Obligations(
            max_results=5,
            min_score=0.6,
            exclude_origins=("US-OR-RIVERTON",),
            required_consent_scope="criminal_investigation",
            not_captured_before=datetime(2016, 6, 3, 12, tzinfo=UTC),
            human_review_required=True,
        ),
    )


def test_retention_of_shared_results_is_understood() -> None:
    document = _changed(ALLOW, ["obligations", "results_retain_until"], "2027-06-01T12:00:00Z")
    obligations = parse_decision(document, "identify").obligations
    assert obligations.results_retain_until == datetime(2027, 6, 1, 12, tzinfo=UTC)
    assert obligations.to_json()["results_retain_until"] == "2027-06-01T12:00:00Z"


def test_deny_is_parsed() -> None:
    decision = parse_decision(DENY, "identify")
    assert decision.allow is False
    assert decision.reasons == (Reason("unknown_agency", "agency acme is not known"),)
    assert decision.obligations == Obligations()


def test_enrolment_allow_needs_no_search_obligations() -> None:
    document = {"allow": True, "reasons": [], "obligations": {"exclude_origins": []}}
    assert parse_decision(document, "enroll").allow is True


def test_integer_min_score_and_offset_timestamp_are_understood() -> None:
    document = _changed(ALLOW, ["obligations", "min_score"], 1)
    document["obligations"]["not_captured_before"] = "2016-06-03T14:00:00+02:00"
    obligations = parse_decision(document, "identify").obligations
    assert obligations.min_score == 1.0
    assert obligations.not_captured_before == datetime(2016, 6, 3, 12, tzinfo=UTC)


def _changed(document: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    """A deep copy of `document` with the value at `path` replaced (or deleted if DELETE)."""
    changed = copy.deepcopy(document)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


DELETE = object()

# (case, base document, path, new value, operation, expected message fragment)
BAD_DECISIONS = [
    ("not an object", None, [], None, "identify", "decision: expected an object, got null"),
    ("missing allow", ALLOW, ["allow"], DELETE, "identify", "decision: missing ['allow']"),
    ("missing reasons", DENY, ["reasons"], DELETE, "identify", "missing ['reasons']"),
    ("missing obligations", DENY, ["obligations"], DELETE, "identify", "missing ['obligations']"),
    ("extra top-level key", ALLOW, ["ttl"], 60, "identify", "decision: unexpected ['ttl']"),
    ("allow as a string", ALLOW, ["allow"], "true", "identify", "allow: expected a boolean"),
    ("allow as a number", ALLOW, ["allow"], 1, "identify", "allow: expected a boolean"),
    ("allow null", ALLOW, ["allow"], None, "identify", "allow: expected a boolean, got null"),
    ("reasons as an object", DENY, ["reasons"], {}, "identify", "reasons: expected a list"),
    ("reason as a string", DENY, ["reasons", 0], "nope", "identify", "reasons[0]: expected an"),
    ("reason without message", DENY, ["reasons", 0, "message"], DELETE, "identify", "missing"),
    ("reason with extra key", DENY, ["reasons", 0, "severity"], "high", "identify", "unexpected"),
    ("reason code a number", DENY, ["reasons", 0, "code"], 7, "identify", "code: expected a str"),
    ("empty reason code", DENY, ["reasons", 0, "code"], "", "identify", "code: must not be empty"),
    ("obligations as a list", DENY, ["obligations"], [], "identify", "expected an object"),
    (
        "unknown obligation",
        ALLOW,
        ["obligations", "notify_supervisor"],
        True,
        "identify",
        "not understood: ['notify_supervisor']",
    ),
    (
        "unknown obligation on a deny",
        DENY,
        ["obligations", "redact"],
        True,
        "identify",
        "not understood: ['redact']",
    ),
    ("max_results float", ALLOW, ["obligations", "max_results"], 5.0, "identify", "an integer"),
    ("max_results string", ALLOW, ["obligations", "max_results"], "5", "identify", "an integer"),
    ("max_results bool", ALLOW, ["obligations", "max_results"], True, "identify", "an integer"),
    ("max_results zero", ALLOW, ["obligations", "max_results"], 0, "identify", "at least 1"),
    ("min_score string", ALLOW, ["obligations", "min_score"], "0.6", "identify", "a number"),
    ("min_score bool", ALLOW, ["obligations", "min_score"], False, "identify", "a number"),
    ("min_score above 1", ALLOW, ["obligations", "min_score"], 1.5, "identify", "[-1, 1]"),
    ("min_score below -1", ALLOW, ["obligations", "min_score"], -2, "identify", "[-1, 1]"),
    ("min_score NaN", ALLOW, ["obligations", "min_score"], float("nan"), "identify", "[-1, 1]"),
    ("origins a string", ALLOW, ["obligations", "exclude_origins"], "CL", "identify", "a list"),
    ("origin a number", ALLOW, ["obligations", "exclude_origins"], [1], "identify", "[0]"),
    ("scope a list", ALLOW, ["obligations", "required_consent_scope"], ["x"], "identify", "str"),
    ("empty scope", ALLOW, ["obligations", "required_consent_scope"], "", "identify", "empty"),
    ("review a string", ALLOW, ["obligations", "human_review_required"], "no", "identify", "bool"),
    ("date only", ALLOW, ["obligations", "not_captured_before"], "2016-06-03", "identify", "3339"),
    (
        "retention of shared results not a date-time",
        ALLOW,
        ["obligations", "results_retain_until"],
        "in a year",
        "identify",
        "decision.obligations.results_retain_until: not an RFC 3339 date-time",
    ),
    (
        "retention of shared results a number",
        ALLOW,
        ["obligations", "results_retain_until"],
        365,
        "identify",
        "decision.obligations.results_retain_until: expected a string",
    ),
    (
        "timestamp without offset",
        ALLOW,
        ["obligations", "not_captured_before"],
        "2016-06-03T12:00:00",
        "identify",
        "not an RFC 3339 date-time",
    ),
    (
        "timestamp with a space",
        ALLOW,
        ["obligations", "not_captured_before"],
        "2016-06-03 12:00:00Z",
        "identify",
        "not an RFC 3339 date-time",
    ),
    (
        "impossible date",
        ALLOW,
        ["obligations", "not_captured_before"],
        "2016-02-30T12:00:00Z",
        "identify",
        "not a valid date-time",
    ),
    (
        "identify allowed without a cap",
        ALLOW,
        ["obligations", "max_results"],
        DELETE,
        "identify",
        "an allowed identify must carry ['max_results']",
    ),
    (
        "verify allowed without a consent scope",
        ALLOW,
        ["obligations", "required_consent_scope"],
        DELETE,
        "verify",
        "must carry ['required_consent_scope']",
    ),
]


@pytest.mark.parametrize(
    ("base", "path", "value", "operation", "message"),
    [case[1:] for case in BAD_DECISIONS],
    ids=[case[0] for case in BAD_DECISIONS],
)
def test_malformed_decision_is_a_policy_error(
    base: dict[str, Any] | None, path: list[Any], value: Any, operation: str, message: str
) -> None:
    document = None if base is None else _changed(base, path, value)
    with pytest.raises(PolicyError, match=re.escape(message)):
        parse_decision(document, operation)


# --- Release ---

CANDIDATES = ("rec-1", "rec-2", "rec-3")
RELEASE: dict[str, Any] = {
    "released": ["rec-1", "rec-3"],
    "withheld": [{"record_id": "rec-2", "reasons": ["jurisdiction_forbids_purpose"]}],
}


def test_release_is_parsed() -> None:
    assert parse_release(RELEASE, CANDIDATES) == Release(
        released=("rec-1", "rec-3"),
        withheld=(Withheld("rec-2", ("jurisdiction_forbids_purpose",)),),
    )


def test_empty_release_of_no_candidates() -> None:
    assert parse_release({"released": [], "withheld": []}, ()) == Release((), ())


BAD_RELEASES = [
    ("not an object", None, [], None, "release: expected an object"),
    ("missing withheld", RELEASE, ["withheld"], DELETE, "release: missing ['withheld']"),
    ("extra key", RELEASE, ["notes"], "x", "release: unexpected ['notes']"),
    ("released a string", RELEASE, ["released"], "rec-1", "released: expected a list"),
    ("released id a number", RELEASE, ["released", 0], 1, "released[0]: expected a string"),
    ("withheld without reasons", RELEASE, ["withheld", 0, "reasons"], [], "at least one reason"),
    ("withheld reason a number", RELEASE, ["withheld", 0, "reasons"], [3], "reasons[0]"),
    ("withheld extra key", RELEASE, ["withheld", 0, "note"], "x", "unexpected ['note']"),
    ("id not a candidate", RELEASE, ["released", 1], "rec-9", "'rec-9' is not one of the"),
    ("id released twice", RELEASE, ["released", 1], "rec-1", "'rec-1' appears more than once"),
    (
        "id both released and withheld",
        RELEASE,
        ["withheld", 0, "record_id"],
        "rec-1",
        "'rec-1' appears more than once",
    ),
    ("candidate forgotten", RELEASE, ["released"], ["rec-1"], "neither released nor withheld"),
]


@pytest.mark.parametrize(
    ("base", "path", "value", "message"),
    [case[1:] for case in BAD_RELEASES],
    ids=[case[0] for case in BAD_RELEASES],
)
def test_malformed_release_is_a_policy_error(
    base: dict[str, Any] | None, path: list[Any], value: Any, message: str
) -> None:
    document = None if base is None else _changed(base, path, value)
    with pytest.raises(PolicyError, match=re.escape(message)):
        parse_release(document, CANDIDATES)


def test_candidate_ids_of_a_release_input() -> None:
    release_input = {"candidates": [{"record_id": "a", "score": 0.9}, {"record_id": "b"}]}
    assert candidate_ids(release_input) == ("a", "b")


@pytest.mark.parametrize(
    ("release_input", "message"),
    [
        ({}, "input.candidates: expected a list, got null"),
        ({"candidates": {}}, "input.candidates: expected a list"),
        ({"candidates": ["a"]}, "input.candidates[0]: expected an object"),
        ({"candidates": [{"score": 1}]}, "input.candidates[0].record_id: expected a string"),
    ],
)
def test_malformed_candidates_are_a_policy_error(
    release_input: dict[str, Any], message: str
) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        candidate_ids(release_input)
