"""`broker policy diff`: how a candidate bundle would decide a set of inputs differently.

The offline twin of shadow mode: the same comparison (broker/policy/compare.py) over inputs
from a file instead of live traffic. The file holds policy inputs as the broker builds them
(`broker policy explain` prints them with --show-input): a JSON array, or one JSON document
per line. An item is an input, or {"name": "...", "input": {...}} to give it a name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.errors import InvalidRequestError, PolicyError
from broker.models import JSON
from broker.policy.compare import Outcome, divergence
from broker.policy.engine import PolicyEngine

# An inputs file is written by people or exported from a test corpus; beyond this it is a
# mistake (a log dump), and reading it whole would exhaust memory.
MAX_INPUTS_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    input: JSON


@dataclass(frozen=True)
class Comparison:
    case: Case
    active: Outcome
    candidate: Outcome

    @property
    def differs(self) -> tuple[str, ...]:
        return divergence(self.active, self.candidate)


def read_cases(path: Path) -> list[Case]:
    """The inputs of `path`. InvalidRequestError names the file and the item at fault."""
    try:
        if path.stat().st_size > MAX_INPUTS_BYTES:
            raise InvalidRequestError(str(path), f"larger than {MAX_INPUTS_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidRequestError(str(path), f"cannot be read: {e}") from e
    items = _items(path, text)
    return [_case(path, i, item) for i, item in enumerate(items)]


def compare(
    active: PolicyEngine, candidate: PolicyEngine, cases: Sequence[Case]
) -> list[Comparison]:
    """Each case decided by both engines, as the broker would act on each answer."""
    return [Comparison(case, _outcome(active, case), _outcome(candidate, case)) for case in cases]


def _outcome(engine: PolicyEngine, case: Case) -> Outcome:
    try:
        return Outcome.of_decision(engine.decide(case.input))
    except PolicyError as e:
        return Outcome.of_error(e)


def _items(path: Path, text: str) -> list[Any]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            document = json.loads(text)
        except ValueError as e:
            raise InvalidRequestError(str(path), f"invalid JSON: {e}") from e
        return list(document)
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except ValueError as e:
                raise InvalidRequestError(f"{path}:{number}", f"invalid JSON: {e}") from e
    return items


def _case(path: Path, index: int, item: Any) -> Case:
    where = f"{path}[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequestError(where, "expected a JSON object (a policy input)")
    if set(item) == {"name", "input"} or set(item) == {"input"}:
        name, policy_input = item.get("name", f"#{index}"), item["input"]
        if not isinstance(name, str) or not isinstance(policy_input, dict):
            raise InvalidRequestError(where, "expected {name: string, input: object}")
        return Case(name, policy_input)
    return Case(f"#{index}", item)
