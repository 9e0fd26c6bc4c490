"""`broker policy explain`: a decision in words a compliance officer reads.

It prints what the broker would do with the answer: a malformed decision, an engine error or
a missed deadline is a denial, exactly as in the broker (the same parser decides). Then every
reason, the agreements that opened something for the request (from the bundle's own data),
and each obligation as a sentence. Given a release input (one with "candidates"), it also
says which candidates would be released, and why each other one is withheld.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.errors import DecisionTimeoutError, PolicyError
from broker.models import JSON
from broker.policy.check import Evaluator
from broker.policy.decision import candidate_ids, parse_decision, parse_release
from broker.policy.engine import DECISION_DOCUMENT, RELEASE_DOCUMENT

# Documents of the shipped library that explain more; a bundle without them explains less.
APPLICABLE_AGREEMENTS_DOCUMENT = "broker.scope.applicable_agreements"
RELEASE_EXPLAINED_DOCUMENT = "broker.release_explained"

OBLIGATION_WORDS: dict[str, str] = {
    "max_results": "return at most {} candidates",
    "min_score": "release no candidate scoring below {}",
    "required_consent_scope": "release only records whose consent covers {!r}",
    "not_captured_before": "search no record captured before {} (past every retention limit "
    "of the origins searched)",
    "results_retain_until": "the caller must delete results shared under an agreement by {}",
}


def explain(bundle_data: Mapping[str, Any], engine: Evaluator, policy_input: JSON) -> list[str]:
    """The explanation, line by line."""
    lines = [*_request_lines(policy_input)]
    raw, refusal = _decision(engine, policy_input)
    if refusal is not None:
        return [
            *lines,
            "Decision: DENIED",
            f"  The broker denies: {refusal}",
            "Obligations: none (a denial obliges nothing)",
        ]
    allowed = raw["allow"] is True
    lines.append(f"Decision: {'ALLOWED' if allowed else 'DENIED'}")
    lines.append("Why:")
    lines.extend(f"  - {r['code']}: {r['message']}" for r in raw["reasons"])
    if allowed:
        lines.extend(_agreement_lines(bundle_data, engine, policy_input))
        lines.append("Obligations (what the broker must do):")
        lines.extend(f"  - {sentence}" for sentence in _obligation_sentences(raw["obligations"]))
    else:
        lines.append("Obligations: none (a denial obliges nothing)")
    if allowed and "candidates" in policy_input:
        lines.extend(_release_lines(engine, {**policy_input, "obligations": raw["obligations"]}))
    return lines


def _decision(engine: Evaluator, policy_input: JSON) -> tuple[Any, str | None]:
    request = policy_input.get("request")
    operation = request.get("operation") if isinstance(request, dict) else None
    try:
        raw = engine.evaluate(DECISION_DOCUMENT, policy_input)
        parse_decision(raw, operation if isinstance(operation, str) else None)
    except DecisionTimeoutError as e:
        return None, f"decision_timeout: the policy did not decide in time ({e})"
    except PolicyError as e:
        return None, f"policy_error: the policy's answer cannot be acted on ({e})"
    return raw, None


def _request_lines(policy_input: JSON) -> list[str]:
    subject = policy_input.get("subject")
    request = policy_input.get("request")
    context = policy_input.get("context")
    if not isinstance(subject, dict) or not isinstance(request, dict):
        return ["Request: (not a complete policy input)"]
    given = request.get("legal_basis")
    basis: dict[str, Any] = given if isinstance(given, dict) else {}
    roles = ", ".join(str(r) for r in subject.get("roles", []) or []) or "none"
    what = f"{request.get('operation')} ({request.get('modality', 'no modality')})"
    lines = [
        f"Request: {subject.get('agency')} (officer {subject.get('officer')}, roles {roles}, "
        f"{subject.get('jurisdiction')}) asks to {what}",
        f"  for {request.get('purpose')} under {basis.get('type') or 'no legal basis'} "
        f"{basis.get('reference') or ''}".rstrip()
        + f", case {request.get('case_id')}"
        + (f", offence {request['offence']}" if request.get("offence") else ""),
    ]
    if isinstance(context, dict):
        lines.append(f"  at {context.get('now')}")
    return lines


def _agreement_lines(
    bundle_data: Mapping[str, Any], engine: Evaluator, policy_input: JSON
) -> list[str]:
    try:
        ids = engine.evaluate(APPLICABLE_AGREEMENTS_DOCUMENT, policy_input)
    except PolicyError:
        return []  # a bundle without this document explains less
    agreements = bundle_data.get("agreements")
    if not isinstance(ids, list) or not ids or not isinstance(agreements, dict):
        return []
    lines = ["Agreements that opened something for this request (their limits bind it):"]
    for agreement_id in sorted(str(i) for i in ids):
        entry = agreements.get(agreement_id)
        if not isinstance(entry, dict):
            continue
        lines.append(
            f"  - {agreement_id}: {entry.get('title', entry.get('name'))}; between "
            f"{' and '.join(str(p) for p in entry.get('parties', []))}; in force "
            f"{entry.get('in_force_from')} to {entry.get('in_force_until')}"
        )
    return lines


def _obligation_sentences(obligations: Mapping[str, Any]) -> list[str]:
    sentences = []
    for key in sorted(obligations):
        value = obligations[key]
        if key == "exclude_origins":
            sentences.append(
                f"do not search or release records from: {', '.join(value)}"
                if value
                else "no origin is excluded"
            )
        elif key == "human_review_required":
            sentences.append(
                "a person must review the candidates before anyone acts on them"
                if value
                else "no human review is required before release"
            )
        elif key in OBLIGATION_WORDS:
            sentences.append(OBLIGATION_WORDS[key].format(value))
        else:
            sentences.append(f"{key}: {value}")
    return sentences


def _release_lines(engine: Evaluator, release_input: JSON) -> list[str]:
    try:
        verdict = parse_release(
            engine.evaluate(RELEASE_DOCUMENT, release_input), candidate_ids(release_input)
        )
    except PolicyError as e:
        return ["Release: nothing is released (the release rule failed: " + str(e) + ")"]
    try:
        messages = engine.evaluate(RELEASE_EXPLAINED_DOCUMENT, release_input)
    except PolicyError:
        messages = {}
    lines = [f"Release: {', '.join(verdict.released) or 'no candidate'} released"]
    for withheld in verdict.withheld:
        explained = messages.get(withheld.record_id) if isinstance(messages, dict) else None
        if isinstance(explained, list) and explained:
            for reason in explained:
                lines.append(
                    f"  - {withheld.record_id} withheld, {reason.get('code')}: "
                    f"{reason.get('message')}"
                )
        else:
            lines.append(f"  - {withheld.record_id} withheld: {', '.join(withheld.reasons)}")
    return lines
