"""Synthetic galleries with plausible provenance, for demos and benchmarks.

Each identity is held by one (randomly chosen) origin and enrolled K times (K captures) in
every modality asked for; one more capture per identity and modality is kept as a mated
probe, with the ids of its enrolled mates. Non-mated probes are captures of identities that
were never enrolled. Score distributions are those of matcher/synthetic.py (face: genuine
mostly 0.5..0.8, impostor about N(0, 0.044)).

Provenance is spread over origins and their agencies (a Riverton record reaches the gallery
through the Oregon State Police, so its lineage names both), consent scopes (every record
allows criminal investigation, each other scope half of them; 5 % withdrew consent),
capture dates over the last five years and retention ending 30 days to ten years from
`now`, so every generated record is live when generated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import numpy as np

from matcher.errors import InvalidInputError
from matcher.records import GalleryRecord, RecordProvenance
from matcher.synthetic import SyntheticTemplates
from matcher.templates import DIMENSIONS, Template, check_modality

# origin -> (capturing agency, holding agency): the lineage runs from the first to the second.
AGENCIES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "US": ("us-fbi", "us-fbi"),
        "US-OR": ("us-or-state-police", "us-or-state-police"),
        "US-OR-RIVERTON": ("us-or-riverton-pd", "us-or-state-police"),
        "CL": ("cl-pdi", "cl-pdi"),
    }
)
CONSENT_SCOPES = ("criminal-investigation", "missing-persons", "border-control", "identity-check")
WITHDRAWN_FRACTION = 0.05  # share of records whose consent was withdrawn
MAX_AGE_DAYS = 5 * 365  # captures happened within the last five years
MIN_RETENTION_DAYS = 30  # retention ends at least this long after `now`...
MAX_RETENTION_DAYS = 10 * 365  # ... and at most this long


@dataclass(frozen=True)
class ProbeSet:
    """Probes of one modality: mated ones first (`mates[i]` lists the enrolled captures of
    probe i's identity), then non-mated ones (`mates[i]` is empty)."""

    modality: str
    probes: np.ndarray
    mates: list[list[str]]

    @property
    def mated(self) -> int:
        """How many probes have enrolled mates (they come first)."""
        return sum(1 for ids in self.mates if ids)


@dataclass(frozen=True)
class SyntheticGallery:
    """Records to enrol, and the probes of each modality."""

    records: list[GalleryRecord]
    probe_sets: Mapping[str, ProbeSet]


def generate(
    *,
    identities: int,
    samples: int,
    seed: int,
    modalities: Sequence[str],
    now: datetime,
    unenrolled: int = 0,
) -> SyntheticGallery:
    """Generates `identities` x `samples` records per modality, one mated probe per identity
    and modality, and `unenrolled` non-mated probes per modality, reproducibly."""
    chosen = _check_modalities(modalities)
    templates = SyntheticTemplates(seed)
    rng = np.random.default_rng(seed + 1)
    origins = sorted(AGENCIES)
    records: list[GalleryRecord] = []
    probes: dict[str, list[Template]] = {modality: [] for modality in chosen}
    mates: dict[str, list[list[str]]] = {modality: [] for modality in chosen}
    for number in range(identities):
        origin = origins[int(rng.integers(len(origins)))]
        for modality in chosen:
            identity = templates.new_identity(modality)
            ids = []
            for sample in range(samples):
                record_id = f"{modality}-{number:07d}-{sample}"
                records.append(
                    GalleryRecord(
                        record_id=record_id,
                        modality=modality,
                        template=templates.sample(identity),
                        provenance=_provenance(rng, origin, now),
                    )
                )
                ids.append(record_id)
            probes[modality].append(templates.sample(identity))
            mates[modality].append(ids)
    for modality in chosen:
        for _ in range(unenrolled):
            probes[modality].append(templates.sample(templates.new_identity(modality)))
            mates[modality].append([])
    probe_sets = {
        modality: ProbeSet(
            modality=modality,
            probes=_matrix(probes[modality], DIMENSIONS[modality]),
            mates=mates[modality],
        )
        for modality in chosen
    }
    return SyntheticGallery(records=records, probe_sets=probe_sets)


def _check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    if isinstance(modalities, str) or not modalities:
        raise InvalidInputError("modalities", "expected a non-empty list of modalities")
    chosen = tuple(check_modality("modalities", modality) for modality in modalities)
    if len(set(chosen)) != len(chosen):
        raise InvalidInputError("modalities", f"{list(chosen)} names a modality twice")
    return chosen


def _matrix(rows: list[Template], dimension: int) -> np.ndarray:
    if not rows:
        return np.empty((0, dimension), dtype=np.float32)
    return np.stack(rows)


def _provenance(rng: np.random.Generator, origin: str, now: datetime) -> RecordProvenance:
    capturing, holding = AGENCIES[origin]
    lineage = (capturing,) if capturing == holding else (capturing, holding)
    captured_at = now - timedelta(days=int(rng.integers(1, MAX_AGE_DAYS)))
    retain_until = now + timedelta(
        days=int(rng.integers(MIN_RETENTION_DAYS, MAX_RETENTION_DAYS + 1))
    )
    chosen = rng.random(len(CONSENT_SCOPES)) < 0.5
    chosen[0] = True  # law enforcement collection always allows investigation
    withdrawn = None
    if rng.random() < WITHDRAWN_FRACTION:
        withdrawn = captured_at + (now - captured_at) * float(rng.random())
    return RecordProvenance(
        origin_jurisdiction=origin,
        source_agency=holding,
        lineage=lineage,
        consent_scopes=tuple(s for s, keep in zip(CONSENT_SCOPES, chosen, strict=True) if keep),
        captured_at=captured_at.astimezone(UTC),
        retain_until=retain_until.astimezone(UTC),
        consent_withdrawn_at=withdrawn,
    )
