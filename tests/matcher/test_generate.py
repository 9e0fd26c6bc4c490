"""The synthetic gallery generator: identities, samples, probes and provenance (item 1)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from matcher.errors import InvalidInputError
from matcher.generate import AGENCIES, CONSENT_SCOPES, generate
from tests.matcher.support import NOW


def test_identities_samples_and_probes_of_both_modalities() -> None:
    synthetic = generate(
        identities=40,
        samples=3,
        seed=4,
        modalities=["face", "fingerprint"],
        now=NOW,
        unenrolled=10,
    )
    assert len(synthetic.records) == 40 * 3 * 2
    assert len({r.record_id for r in synthetic.records}) == len(synthetic.records)
    by_id = {r.record_id: r for r in synthetic.records}
    for modality, dimension in (("face", 512), ("fingerprint", 192)):
        probes = synthetic.probe_sets[modality]
        assert probes.probes.shape == (50, dimension)
        assert probes.probes.dtype == np.float32
        assert np.allclose(np.linalg.norm(probes.probes, axis=1), 1.0, atol=1e-5)
        assert probes.mated == 40
        assert all(len(ids) == 3 for ids in probes.mates[:40])
        assert all(ids == [] for ids in probes.mates[40:])  # never enrolled
        for ids in probes.mates[:40]:
            assert {by_id[i].modality for i in ids} == {modality}
            assert len({by_id[i].provenance.origin_jurisdiction for i in ids}) == 1
    for record in synthetic.records:
        dimension = 512 if record.modality == "face" else 192
        assert record.template.shape == (dimension,)
        assert abs(float(np.linalg.norm(record.template)) - 1.0) < 1e-5


def test_mated_probes_score_like_genuines_and_non_mated_like_impostors() -> None:
    synthetic = generate(
        identities=200, samples=2, seed=8, modalities=["face"], now=NOW, unenrolled=50
    )
    probes = synthetic.probe_sets["face"]
    gallery = np.stack([r.template for r in synthetic.records]).astype(np.float64)
    row_of = {r.record_id: i for i, r in enumerate(synthetic.records)}
    scores = probes.probes.astype(np.float64) @ gallery.T
    genuine = np.array([scores[p, row_of[m]] for p in range(probes.mated) for m in probes.mates[p]])
    assert np.mean((genuine >= 0.5) & (genuine <= 0.8)) >= 0.9  # synthetic.py's figures
    non_mated = scores[probes.mated :]
    assert float(np.max(non_mated)) < 0.3  # no non-mated probe looks like anyone
    assert abs(float(np.mean(non_mated))) < 0.01


def test_provenance_is_spread_and_every_record_is_live() -> None:
    synthetic = generate(identities=300, samples=2, seed=5, modalities=["face"], now=NOW)
    provenances = [r.provenance for r in synthetic.records]
    assert {p.origin_jurisdiction for p in provenances} == set(AGENCIES)
    assert {p.source_agency for p in provenances} == {holder for _, holder in AGENCIES.values()}
    riverton = [p for p in provenances if p.origin_jurisdiction == "US-OR-RIVERTON"]
    assert all(p.lineage == ("us-or-riverton-pd", "us-or-state-police") for p in riverton)
    assert all(CONSENT_SCOPES[0] in p.consent_scopes for p in provenances)
    for scope in CONSENT_SCOPES[1:]:
        share = np.mean([scope in p.consent_scopes for p in provenances])
        assert 0.35 < share < 0.65
    withdrawn = np.mean([p.consent_withdrawn_at is not None for p in provenances])
    assert 0.01 < withdrawn < 0.1
    captured = [p.captured_at for p in provenances]
    assert min(captured) >= NOW - timedelta(days=5 * 365)
    assert max(captured) < NOW
    assert len(set(captured)) > 500  # capture dates vary
    assert all(p.retain_until > NOW + timedelta(days=29) for p in provenances)


def test_the_same_seed_generates_the_same_gallery() -> None:
    first, second = (
        generate(identities=5, samples=2, seed=9, modalities=["face"], now=NOW, unenrolled=2)
        for _ in range(2)
    )
    assert first.records == second.records
    assert np.array_equal(first.probe_sets["face"].probes, second.probe_sets["face"].probes)


@pytest.mark.parametrize("modalities", [[], ["iris"], ["face", "face"], "face"])
def test_bad_modalities_are_refused(modalities: list[str]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        generate(identities=1, samples=1, seed=1, modalities=modalities, now=NOW)
    assert caught.value.field == "modalities"
