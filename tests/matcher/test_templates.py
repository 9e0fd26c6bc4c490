"""Template validation and normalisation: the one gate every vector passes."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.errors import InvalidInputError
from matcher.templates import DIMENSIONS, check_modality, normalise_template


def test_dimensions_follow_the_proto() -> None:
    assert dict(DIMENSIONS) == {"face": 512, "fingerprint": 192}


@pytest.mark.parametrize("modality", ["face", "fingerprint"])
def test_normalises_to_a_read_only_float32_unit_vector(modality: str) -> None:
    values = np.random.default_rng(1).standard_normal(DIMENSIONS[modality]) * 37.0
    unit = normalise_template("probe", modality, values)
    assert unit.dtype == np.float32
    assert unit.shape == (DIMENSIONS[modality],)
    assert abs(float(np.linalg.norm(unit.astype(np.float64))) - 1.0) < 1e-6
    np.testing.assert_allclose(unit, values / np.linalg.norm(values), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="read-only"):
        unit[0] = 1.0


def test_normalising_twice_changes_no_bit() -> None:
    rng = np.random.default_rng(2)
    for _ in range(200):
        once = normalise_template("t", "face", rng.standard_normal(512) * rng.uniform(1e-3, 1e3))
        assert np.array_equal(normalise_template("t", "face", once), once)


def test_huge_and_tiny_finite_values_are_normalised_not_rejected() -> None:
    huge = np.full(192, 1e300)
    tiny = np.full(192, 1e-310)
    expected = np.full(192, 1 / np.sqrt(192), dtype=np.float32)
    np.testing.assert_allclose(normalise_template("t", "fingerprint", huge), expected, rtol=1e-6)
    np.testing.assert_allclose(normalise_template("t", "fingerprint", tiny), expected, rtol=1e-6)


def _with(index: int, value: float) -> list[float]:
    values = [0.1] * 512
    values[index] = value
    return values


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.1] * 3, "expected 512 values for face, got 3"),
        ([0.1] * 513, "expected 512 values for face, got 513"),
        ([], "expected 512 values for face, got 0"),
        (_with(7, float("nan")), "NaN or infinite"),
        (_with(0, float("inf")), "NaN or infinite"),
        (_with(511, float("-inf")), "NaN or infinite"),
        ([0.0] * 512, "all-zero"),
        (np.zeros((2, 256)), "flat vector"),
        (["a"] * 512, "sequence of numbers"),
        (np.ones(512, dtype=np.complex64), "complex"),
    ],
    ids=["short", "long", "empty", "nan", "inf", "minus-inf", "zero", "matrix", "text", "complex"],
)
def test_bad_templates_are_refused_naming_the_field(values: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message) as caught:
        normalise_template("probe", "face", values)  # type: ignore[arg-type]
    assert caught.value.field == "probe"
    assert str(caught.value).startswith("probe: ")


@pytest.mark.parametrize("modality", ["", "FACE", "iris", None, 1])
def test_unknown_modalities_are_refused(modality: object) -> None:
    with pytest.raises(InvalidInputError, match="unknown modality") as caught:
        check_modality("modality", modality)
    assert caught.value.field == "modality"
