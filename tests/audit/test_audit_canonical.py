"""broker.canonical against RFC 8785's own examples."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest

from broker import canonical
from broker.errors import CanonicalizationError
from tests.audit.audit_helpers import VECTORS, load_vector

RFC8785 = load_vector("rfc8785.json")


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


def test_section_3_2_2_sample_gives_the_published_bytes() -> None:
    parsed = json.loads((VECTORS / "rfc8785_3.2.2_input.json").read_text(encoding="utf-8"))
    expected = (VECTORS / "rfc8785_3.2.2_output.json").read_bytes()
    assert canonical.dumps(parsed) == expected


def test_sample_digest_is_sha256_of_the_canonical_bytes() -> None:
    parsed = json.loads((VECTORS / "rfc8785_3.2.2_input.json").read_text(encoding="utf-8"))
    expected = (VECTORS / "rfc8785_3.2.2_output.json").read_bytes()
    assert canonical.digest(parsed) == hashlib.sha256(expected).hexdigest()


@pytest.mark.parametrize(("bits", "text"), RFC8785["numbers"])
def test_appendix_b_number_serialization(bits: str, text: str) -> None:
    assert canonical.dumps(_double(bits)) == text.encode("ascii")
    assert canonical.dumps([_double(bits)]) == b"[" + text.encode("ascii") + b"]"


@pytest.mark.parametrize("bits", RFC8785["numbers_without_form"])
def test_appendix_b_nan_and_infinity_have_no_form(bits: str) -> None:
    with pytest.raises(CanonicalizationError):
        canonical.dumps({"x": _double(bits)})


def test_section_3_2_3_sorts_by_utf16_code_units() -> None:
    sample = RFC8785["sorting"]
    text = canonical.dumps(sample["input"]).decode("utf-8")
    positions = [text.index(f'"{value}"') for value in sample["values_in_order"]]
    assert positions == sorted(positions)


def test_digest_ignores_member_order_and_spacing() -> None:
    a = json.loads('{"b": [1, 2.50], "a": {"y": null, "x": true}}')
    b = json.loads('{"a":{"x":true,"y":null},"b":[1,2.5]}')
    assert canonical.digest(a) == canonical.digest(b)
    assert canonical.digest(a) != canonical.digest({**a, "b": [1, 2.51]})


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**53},  # beyond I-JSON's exact integers
        {1: "non-string key"},
        {"set": {1, 2}},
        {"surrogate": "\ud800"},
    ],
    ids=["integer-2^53", "int-key", "set", "lone-surrogate"],
)
def test_values_without_canonical_form_are_refused(value: object) -> None:
    with pytest.raises(CanonicalizationError):
        canonical.dumps(value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"a": 1, "a": 2}', "duplicate member name 'a'"),
        ('{"a": {"b": 1, "b": 1}}', "duplicate member name 'b'"),
        ('{"a": NaN}', "NaN is not JSON"),
        ('{"a": -Infinity}', "-Infinity is not JSON"),
        ('{"a": ', "not JSON"),
        (b'"\xff"', "not UTF-8"),
    ],
)
def test_parse_strict_refuses_ambiguous_json(text: str | bytes, needle: str) -> None:
    with pytest.raises(CanonicalizationError, match=needle):
        canonical.parse_strict(text)


def test_parse_strict_reads_ordinary_json() -> None:
    assert canonical.parse_strict(b'{"a": [1, "x", null]}') == {"a": [1, "x", None]}
