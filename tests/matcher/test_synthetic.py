"""The synthetic templates have the score distributions their docstring claims."""

from __future__ import annotations

import numpy as np
import pytest

from matcher.errors import InvalidInputError
from matcher.synthetic import SyntheticTemplates, measure


@pytest.mark.parametrize(
    ("modality", "genuine_range"),
    [("face", (0.5, 0.8)), ("fingerprint", (0.55, 0.85))],
)
def test_genuine_and_impostor_distributions(
    modality: str, genuine_range: tuple[float, float]
) -> None:
    scores = measure(modality, pairs=200, seed=11)
    low, high = genuine_range
    in_range = np.mean((scores.genuine >= low) & (scores.genuine <= high))
    assert in_range >= 0.9
    assert 0.6 <= float(np.mean(scores.genuine)) <= 0.72
    assert np.mean(np.abs(scores.impostor) < 0.2) >= 0.97
    assert abs(float(np.mean(scores.impostor))) < 0.02
    # genuine and impostor scores are separated: every genuine beats every typical impostor
    assert float(np.min(scores.genuine)) > float(np.percentile(scores.impostor, 99))


def test_captures_are_unit_float32_and_vary() -> None:
    source = SyntheticTemplates(seed=1)
    identity = source.new_identity("fingerprint")
    one, two = source.sample(identity), source.sample(identity)
    for capture in (identity, one, two):
        assert capture.dtype == np.float32
        assert capture.shape == (192,)
        assert abs(float(np.linalg.norm(capture)) - 1.0) < 1e-5
    assert not np.array_equal(one, two)


def test_same_seed_same_templates() -> None:
    first, second = SyntheticTemplates(seed=5), SyntheticTemplates(seed=5)
    a, b = first.new_identity("face"), second.new_identity("face")
    assert np.array_equal(a, b)
    assert np.array_equal(first.sample(a), second.sample(b))
    assert not np.array_equal(a, SyntheticTemplates(seed=6).new_identity("face"))


def test_an_identity_of_no_modality_is_refused() -> None:
    source = SyntheticTemplates(seed=1)
    with pytest.raises(InvalidInputError) as caught:
        source.sample(np.ones(100))
    assert caught.value.field == "identity"
    with pytest.raises(InvalidInputError):
        source.new_identity("iris")
