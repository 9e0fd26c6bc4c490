"""Synthetic galleries with plausible provenance, for demos and benchmarks.

Each identity is held by one (randomly chosen) origin and enrolled K times (K captures);
one more capture per identity is kept as a probe, with the ids of its enrolled mates.
Origins and agencies follow the project's example jurisdictions; a Riverton record reaches
the gallery through the Oregon State Police, so its lineage names both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import numpy as np

from matcher.records import GalleryRecord, RecordProvenance
from matcher.synthetic import SyntheticTemplates
from matcher.templates import Template

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


@dataclass(frozen=True)
class SyntheticGallery:
    """Records to enrol, and one probe per identity with the ids of its mates."""

    records: list[GalleryRecord]
    probes: np.ndarray
    mates: list[list[str]]


def generate(
    *, identities: int, samples: int, seed: int, modality: str, now: datetime
) -> SyntheticGallery:
    """Generates `identities` x `samples` records and `identities` probes, reproducibly."""
    templates = SyntheticTemplates(seed)
    rng = np.random.default_rng(seed + 1)
    origins = sorted(AGENCIES)
    records: list[GalleryRecord] = []
    probes: list[Template] = []
    mates: list[list[str]] = []
    for number in range(identities):
        identity = templates.new_identity(modality)
        origin = origins[int(rng.integers(len(origins)))]
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
        probes.append(templates.sample(identity))
        mates.append(ids)
    matrix = np.stack(probes) if probes else np.empty((0, 0), dtype=np.float32)
    return SyntheticGallery(records=records, probes=matrix, mates=mates)


def _provenance(rng: np.random.Generator, origin: str, now: datetime) -> RecordProvenance:
    capturing, holding = AGENCIES[origin]
    lineage = (capturing,) if capturing == holding else (capturing, holding)
    captured_at = now - timedelta(days=int(rng.integers(1, MAX_AGE_DAYS)))
    retain_until = captured_at + timedelta(days=365 * int(rng.integers(2, 11)))
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
