"""The demo's synthetic gallery: four agencies on two continents, and the fusion-centre
copies that make provenance matter.

- us-fbi (US): federal records; consent scopes allow criminal, immigration, missing-person use.
- riverton-pd (US-OR-RIVERTON): a sanctuary city's police; its records never serve
  immigration enforcement, wherever they travel.
- or-fusion (US-OR): a state fusion centre holding its own records and copies of Riverton's:
  some keep their origin, some were relabelled "US-OR" when copied (the lineage still shows
  riverton-pd first), and all had their consent scopes widened on the way.
- cl-pdi (CL): Chile's investigative police, fingerprints only, reachable from the US only
  under the US–Chile agreement (fingerprints, criminal investigation).
Plus records past their retention date and records whose consent was withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from matcher.gallery import Gallery
from matcher.records import GalleryRecord, RecordProvenance
from matcher.synthetic import SyntheticTemplates

SAMPLES_PER_IDENTITY = 2
ALL_SCOPES = ("criminal_investigation", "immigration_enforcement", "missing_person")


@dataclass(frozen=True)
class Population:
    agency: str
    origin: str
    lineage: tuple[str, ...]
    consent_scopes: tuple[str, ...]
    identities: int
    modalities: tuple[str, ...] = ("face", "fingerprint")


POPULATIONS = (
    Population("us-fbi", "US", ("us-fbi",), ALL_SCOPES, 30),
    Population("riverton-pd", "US-OR-RIVERTON", ("riverton-pd",), ALL_SCOPES[::2], 30),
    Population("or-fusion", "US-OR", ("or-fusion",), ALL_SCOPES, 20),
    Population("cl-pdi", "CL", ("cl-pdi",), ("criminal_investigation",), 30, ("fingerprint",)),
)
FUSION_COPIES = range(0, 10)  # Riverton identities copied by the fusion centre, origin kept
RELABELLED_COPIES = range(10, 15)  # ... copied and relabelled US-OR
EXPIRED = range(0, 3)  # us-fbi identities whose records are past retain_until
WITHDRAWN = range(3, 6)  # us-fbi identities whose consent was withdrawn


@dataclass
class DemoGallery:
    """The gallery on disk plus the latent identities, so probes are fresh captures."""

    directory: Path
    now: datetime
    identities: dict[tuple[str, int, str], np.ndarray] = field(default_factory=dict)
    synthetic: SyntheticTemplates = field(default_factory=lambda: SyntheticTemplates(seed=7))
    record_count: int = 0

    def probe(self, agency: str, person: int, modality: str) -> np.ndarray:
        """A new capture of an enrolled person, as a field officer would take it."""
        return self.synthetic.sample(self.identities[(agency, person, modality)])

    def stranger(self, modality: str) -> np.ndarray:
        return self.synthetic.sample(self.synthetic.new_identity(modality))


def build_demo_gallery(directory: Path, *, now: datetime | None = None) -> DemoGallery:
    demo = DemoGallery(directory, now or datetime.now(UTC).replace(microsecond=0))
    gallery = Gallery.create(directory)
    try:
        for record in _records(demo):
            gallery.add(record)
            demo.record_count += 1
        gallery.rebuild()
    finally:
        gallery.close()
    return demo


def _records(demo: DemoGallery) -> Iterator[GalleryRecord]:
    now = demo.now
    captured = now - timedelta(days=400)
    retain = now + timedelta(days=3650)
    for pop in POPULATIONS:
        for person in range(pop.identities):
            for modality in pop.modalities:
                identity = demo.synthetic.new_identity(modality)
                demo.identities[(pop.agency, person, modality)] = identity
                provenance = RecordProvenance(
                    origin_jurisdiction=pop.origin,
                    source_agency=pop.agency,
                    lineage=pop.lineage,
                    consent_scopes=pop.consent_scopes,
                    captured_at=captured,
                    retain_until=retain,
                )
                if pop.agency == "us-fbi" and person in EXPIRED:
                    provenance = replace(provenance, retain_until=now - timedelta(days=1))
                if pop.agency == "us-fbi" and person in WITHDRAWN:
                    provenance = replace(provenance, consent_withdrawn_at=now - timedelta(days=30))
                yield from _samples(
                    demo, f"{pop.agency}:p{person:03d}", modality, identity, provenance
                )
                if pop.agency == "riverton-pd" and (
                    person in FUSION_COPIES or person in RELABELLED_COPIES
                ):
                    copy = RecordProvenance(
                        origin_jurisdiction=(
                            "US-OR" if person in RELABELLED_COPIES else "US-OR-RIVERTON"
                        ),
                        source_agency="or-fusion",
                        lineage=("riverton-pd", "or-fusion"),
                        consent_scopes=ALL_SCOPES,  # widened when copied: a real failure mode
                        captured_at=captured,
                        retain_until=retain,
                    )
                    yield from _samples(
                        demo, f"or-fusion:copy-of-riverton-p{person:03d}", modality, identity, copy
                    )


def _samples(
    demo: DemoGallery, stem: str, modality: str, identity: np.ndarray, provenance: RecordProvenance
) -> Iterator[GalleryRecord]:
    for n in range(SAMPLES_PER_IDENTITY):
        yield GalleryRecord(
            record_id=f"{stem}:{modality}:{n}",
            modality=modality,
            template=demo.synthetic.sample(identity),
            provenance=provenance,
        )
