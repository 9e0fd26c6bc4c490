"""Helpers shared by the matcher tests: provenance and filter factories, populations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from matcher.records import GalleryRecord, RecordProvenance, SearchFilters
from matcher.synthetic import SyntheticTemplates

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ORIGINS = ("US", "US-OR", "US-OR-RIVERTON", "CL")
AGENCY = {"US": "us-fbi", "US-OR": "or-fusion", "US-OR-RIVERTON": "riverton-pd", "CL": "cl-pdi"}


@dataclass
class FakeClock:
    """A gallery clock the test moves by hand (the gallery applies retention by it)."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def provenance(origin: str = "US", **overrides: Any) -> RecordProvenance:
    """A valid provenance captured a year before NOW and kept ten years."""
    values: dict[str, Any] = {
        "origin_jurisdiction": origin,
        "source_agency": AGENCY.get(origin, "agency"),
        "lineage": (AGENCY.get(origin, "agency"),),
        "consent_scopes": ("criminal_investigation",),
        "captured_at": NOW - timedelta(days=365),
        "retain_until": NOW + timedelta(days=3650),
    }
    values.update(overrides)
    return RecordProvenance(**values)


def filters(**overrides: Any) -> SearchFilters:
    """Filters valid at NOW that admit every test record unless overridden."""
    values: dict[str, Any] = {"valid_at": NOW}
    values.update(overrides)
    return SearchFilters(**values)


def expected_scores(gallery_vectors: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Exact cosine similarity computed independently with numpy, rounded like the wire."""
    unit_probe = probe.astype(np.float64) / np.linalg.norm(probe.astype(np.float64))
    units = gallery_vectors.astype(np.float64)
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    return (units @ unit_probe).astype(np.float32).astype(np.float64)


@dataclass
class Population:
    """Records enrolled in a test gallery, with the identities they were captured from."""

    records: dict[str, GalleryRecord] = field(default_factory=dict)
    identities: dict[str, np.ndarray] = field(default_factory=dict)
    synthetic: SyntheticTemplates = field(default_factory=lambda: SyntheticTemplates(seed=99))

    def make(
        self, record_id: str, origin: str = "US", modality: str = "face", **prov: Any
    ) -> GalleryRecord:
        identity = self.synthetic.new_identity(modality)
        self.identities[record_id] = identity
        record = GalleryRecord(
            record_id=record_id,
            modality=modality,
            template=self.synthetic.sample(identity),
            provenance=provenance(origin, **prov),
        )
        self.records[record_id] = record
        return record

    def probe(self, record_id: str) -> np.ndarray:
        """A fresh capture of the identity behind `record_id`."""
        return self.synthetic.sample(self.identities[record_id])

    def live(self, modality: str = "face") -> list[GalleryRecord]:
        return [r for r in self.records.values() if r.modality == modality]


def gallery_bytes(directory: Path) -> dict[str, bytes]:
    """Every file of a gallery (except its lock), for before/after comparisons."""
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.name != "lock"
    }
