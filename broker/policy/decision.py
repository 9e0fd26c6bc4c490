"""Strict parsing of what the policy returns: the decision and the release documents.

The broker acts on obligations, so it must understand every one of them: an unknown key, a
wrong type or a value out of range is a PolicyError, which the pipeline turns into a
signed denial. Nothing here guesses or fills in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from broker.errors import PolicyError
from broker.models import JSON, Decision, Obligations, RateLimit, Reason, Release, Withheld
from broker.rfc3339 import parse as parse_rfc3339

DECISION_KEYS = frozenset({"allow", "reasons", "obligations"})
REASON_KEYS = frozenset({"code", "message"})
RELEASE_KEYS = frozenset({"released", "withheld"})
WITHHELD_KEYS = frozenset({"record_id", "reasons"})

# What an allow must oblige the broker to do before it may search: without a cap, a floor
# and a consent scope, a search would be unbounded.
SEARCH_OBLIGATIONS = frozenset(
    {
        "max_results",
        "min_score",
        "exclude_origins",
        "required_consent_scope",
        "human_review_required",
    }
)
REQUIRED_ON_ALLOW: dict[str, frozenset[str]] = {
    "identify": SEARCH_OBLIGATIONS,
    "verify": SEARCH_OBLIGATIONS,
}

# RFC 3339 section 5.6 date-time, upper-case T and Z as the broker writes them.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", flags=re.ASCII
)


def parse_decision(document: Any, operation: str | None = None) -> Decision:
    """Parses data.broker.decision; `operation` selects the obligations an allow must carry."""
    doc = _exact_object(document, DECISION_KEYS, "decision")
    allow = doc["allow"]
    if not isinstance(allow, bool):
        raise PolicyError(f"decision.allow: expected a boolean, got {_kind(allow)}")
    reasons = tuple(
        _parse_reason(item, f"decision.reasons[{i}]")
        for i, item in enumerate(_list(doc["reasons"], "decision.reasons"))
    )
    obligations = _parse_obligations(doc["obligations"])
    if allow:
        missing = REQUIRED_ON_ALLOW.get(operation or "", frozenset()) - doc["obligations"].keys()
        if missing:
            raise PolicyError(
                f"decision.obligations: an allowed {operation} must carry {sorted(missing)}"
            )
    return Decision(allow=allow, reasons=reasons, obligations=obligations)


def parse_release(document: Any, candidate_ids: Collection[str]) -> Release:
    """Parses data.broker.release: every candidate exactly once, released or withheld."""
    doc = _exact_object(document, RELEASE_KEYS, "release")
    released = tuple(
        _string(item, f"release.released[{i}]")
        for i, item in enumerate(_list(doc["released"], "release.released"))
    )
    withheld = tuple(
        _parse_withheld(item, f"release.withheld[{i}]")
        for i, item in enumerate(_list(doc["withheld"], "release.withheld"))
    )
    expected = set(candidate_ids)
    seen: set[str] = set()
    for record_id in (*released, *(w.record_id for w in withheld)):
        if record_id not in expected:
            raise PolicyError(f"release: {record_id!r} is not one of the candidates")
        if record_id in seen:
            raise PolicyError(f"release: {record_id!r} appears more than once")
        seen.add(record_id)
    unanswered = expected - seen
    if unanswered:
        raise PolicyError(
            f"release: candidates neither released nor withheld: {sorted(unanswered)}"
        )
    return Release(released=released, withheld=withheld)


def candidate_ids(release_input: JSON) -> tuple[str, ...]:
    """The record ids of a release input's candidates (the set a release must answer for)."""
    candidates = release_input.get("candidates") if isinstance(release_input, dict) else None
    ids = []
    for i, candidate in enumerate(_list(candidates, "input.candidates")):
        if not isinstance(candidate, dict):
            raise PolicyError(f"input.candidates[{i}]: expected an object, got {_kind(candidate)}")
        ids.append(_string(candidate.get("record_id"), f"input.candidates[{i}].record_id"))
    return tuple(ids)


def _parse_reason(item: Any, where: str) -> Reason:
    doc = _exact_object(item, REASON_KEYS, where)
    code = _string(doc["code"], f"{where}.code")
    if not code:
        raise PolicyError(f"{where}.code: must not be empty")
    return Reason(code=code, message=_string(doc["message"], f"{where}.message"))


def _parse_withheld(item: Any, where: str) -> Withheld:
    doc = _exact_object(item, WITHHELD_KEYS, where)
    reasons = tuple(
        _string(code, f"{where}.reasons[{i}]")
        for i, code in enumerate(_list(doc["reasons"], f"{where}.reasons"))
    )
    if not reasons:
        raise PolicyError(f"{where}.reasons: a withheld record needs at least one reason")
    return Withheld(record_id=_string(doc["record_id"], f"{where}.record_id"), reasons=reasons)


def _parse_obligations(value: Any) -> Obligations:
    if not isinstance(value, dict):
        raise PolicyError(f"decision.obligations: expected an object, got {_kind(value)}")
    unknown = value.keys() - _OBLIGATION_PARSERS.keys()
    if unknown:
        raise PolicyError(f"decision.obligations: not understood: {sorted(unknown)}")
    fields = {
        key: _OBLIGATION_PARSERS[key](item, f"decision.obligations.{key}")
        for key, item in value.items()
    }
    return Obligations(**fields)


def _max_results(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PolicyError(f"{where}: expected an integer, got {_kind(value)}")
    if value < 1:
        raise PolicyError(f"{where}: must be at least 1, got {value}")
    return value


def _min_score(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PolicyError(f"{where}: expected a number, got {_kind(value)}")
    if not (math.isfinite(value) and -1.0 <= value <= 1.0):
        raise PolicyError(f"{where}: must be within [-1, 1], got {value}")
    return float(value)


def _exclude_origins(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_string(item, f"{where}[{i}]") for i, item in enumerate(_list(value, where)))


def _required_consent_scope(value: Any, where: str) -> str:
    scope = _string(value, where)
    if not scope:
        raise PolicyError(f"{where}: must not be empty")
    return scope


def _not_captured_before(value: Any, where: str) -> datetime:
    return _date_time(value, where)


def _results_retain_until(value: Any, where: str) -> datetime:
    return _date_time(value, where)


def _date_time(value: Any, where: str) -> datetime:
    text = _string(value, where)
    if not _RFC3339.fullmatch(text):
        raise PolicyError(f"{where}: not an RFC 3339 date-time: {text!r}")
    try:
        return parse_rfc3339(text)
    except ValueError as e:
        raise PolicyError(f"{where}: not a valid date-time: {text!r}") from e


# Rates above this are not a limit but a typo; a policy meaning "unlimited" omits the key.
MAX_RATE = 100_000
RATE_LIMIT_KEYS = frozenset({"per_officer_per_minute", "per_case_per_hour"})


def _rate_limit(value: Any, where: str) -> RateLimit:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected an object, got {_kind(value)}")
    unknown = value.keys() - RATE_LIMIT_KEYS
    if unknown or not value:
        raise PolicyError(
            f"{where}: expected some of {sorted(RATE_LIMIT_KEYS)}, got {sorted(value)}"
        )
    for key, rate in value.items():
        if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= MAX_RATE:
            raise PolicyError(f"{where}.{key}: expected an integer within 1..{MAX_RATE}")
    return RateLimit(**value)


def _human_review_required(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{where}: expected a boolean, got {_kind(value)}")
    return value


_OBLIGATION_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "max_results": _max_results,
    "min_score": _min_score,
    "exclude_origins": _exclude_origins,
    "required_consent_scope": _required_consent_scope,
    "not_captured_before": _not_captured_before,
    "human_review_required": _human_review_required,
    "rate_limit": _rate_limit,
    "results_retain_until": _results_retain_until,
}


def _exact_object(value: Any, keys: frozenset[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyError(f"{where}: expected an object, got {_kind(value)}")
    missing = keys - value.keys()
    if missing:
        raise PolicyError(f"{where}: missing {sorted(missing)}")
    extra = value.keys() - keys
    if extra:
        raise PolicyError(f"{where}: unexpected {sorted(extra)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PolicyError(f"{where}: expected a list, got {_kind(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(f"{where}: expected a string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
