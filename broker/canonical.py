"""RFC 8785 (JCS) canonical JSON: the only bytes the broker hashes or signs.

Wire JSON may differ in spacing, member order or number spelling; two parties agree on a
digest only if both hash the canonical form. Parsing is strict (I-JSON, RFC 7493): duplicate
member names and the non-JSON constants NaN/Infinity are refused rather than silently
resolved, because "last one wins" is how a signed document gets two meanings.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from broker.errors import CanonicalizationError

__all__ = ["digest", "dumps", "parse_strict"]


def dumps(obj: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (dict, list, str, int, float, ...)."""
    try:
        data: bytes = rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as e:
        raise CanonicalizationError(f"no canonical JSON form: {e}") from e
    except RecursionError as e:
        raise CanonicalizationError("no canonical JSON form: nested too deeply") from e
    return data


def digest(obj: Any) -> str:
    """SHA-256 (lowercase hex) of the canonical bytes; e.g. a receipt's `input_digest`."""
    return hashlib.sha256(dumps(obj)).hexdigest()


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for key, value in pairs:
        if key in doc:
            raise CanonicalizationError(f"duplicate member name {key!r}")
        doc[key] = value
    return doc


def _reject_constant(name: str) -> Any:
    raise CanonicalizationError(f"{name} is not JSON")


def parse_strict(text: str | bytes) -> Any:
    """Parses I-JSON: UTF-8 only, no duplicate member names, no NaN/Infinity."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except UnicodeDecodeError as e:
        raise CanonicalizationError(f"not UTF-8: {e}") from e
    except RecursionError as e:
        raise CanonicalizationError("JSON nested too deeply") from e
    except json.JSONDecodeError as e:
        raise CanonicalizationError(f"not JSON: {e}") from e
