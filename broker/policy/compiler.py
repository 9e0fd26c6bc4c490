"""Builds an OPA engine with modules and data loaded and compiled, or says which file failed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opa_bindings import OpaEngine, OpaError

from broker.errors import PolicyLoadError

# A bundle may define this set of messages to check that its data documents agree with
# each other (policies/integrity.rego). Loading fails unless it is empty or undefined.
INTEGRITY_DOCUMENT = "data.broker.integrity.errors"


def compile_engine(modules: Mapping[str, str], data: Mapping[str, Any]) -> OpaEngine:
    """Parses every module (an error names its file), merges the data, compiles it all now
    rather than at the first evaluation, and checks the bundle's integrity rules.
    Raises PolicyLoadError; leaks no engine."""
    engine = OpaEngine()
    try:
        for name, source in modules.items():
            try:
                engine.add_policy(name, source)
            except OpaError as e:
                raise PolicyLoadError(f"{name}: {e.message}") from e
        try:
            engine.add_data(dict(data))
            bindings = engine.eval_query(f"errors := {INTEGRITY_DOCUMENT}")
        except OpaError as e:
            raise PolicyLoadError(f"the bundle does not compile: {e.message}") from e
        _check_integrity(bindings)
    except BaseException:
        engine.close()
        raise
    return engine


def _check_integrity(bindings: list[dict[str, Any]]) -> None:
    if not bindings:
        return  # the bundle defines no integrity rules
    errors = bindings[0].get("errors")
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise PolicyLoadError(f"{INTEGRITY_DOCUMENT} must be a set of strings")
    if errors:
        raise PolicyLoadError("the data documents disagree: " + "; ".join(errors))
