"""The gallery's on-disk layout and its manifest, the single commit point of a rebuild.

```
DIR/manifest.json       which generation is live, the last journal seq folded into it,
                        n_trees, and the partitions (modality, origin, record count)
DIR/journal.jsonl       additions and removals after that seq (matcher/journal.py)
DIR/lock                flock'ed while a process has the gallery open
DIR/generations/<G>/<modality>/<origin>/{index.ann, vectors.npy, records.jsonl}
```
A rebuild writes generation G+1 beside G, then replaces manifest.json atomically; until
that rename G is live, after it G+1 is. Generations the manifest does not name, and `*.tmp`
files, are leftovers of an interrupted rebuild and are deleted on open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from matcher.durable import write_atomically
from matcher.errors import GalleryError, MatcherError
from matcher.partition import PartitionKey
from matcher.records import check_origin
from matcher.templates import check_modality

MANIFEST_FILE = "manifest.json"
JOURNAL_FILE = "journal.jsonl"
LOCK_FILE = "lock"
GENERATIONS_DIR = "generations"
FORMAT = "biometric-matcher-gallery"
FORMAT_VERSION = 1
# Annoy trees: more trees give better recall and bigger files; beyond this is a mistake.
MAX_TREES = 1_000


def check_trees(field: str, n_trees: object) -> int:
    """Returns `n_trees` when it is an integer in 1..MAX_TREES."""
    if not isinstance(n_trees, int) or isinstance(n_trees, bool) or not 1 <= n_trees <= MAX_TREES:
        raise GalleryError(f"{field}: {n_trees!r} is not an integer in 1..{MAX_TREES}")
    return n_trees


def generation_dir(directory: Path, generation: int) -> Path:
    """Where generation `generation` keeps its segments."""
    return directory / GENERATIONS_DIR / str(generation)


def segment_dir(directory: Path, generation: int, key: PartitionKey) -> Path:
    """Where one partition of one generation keeps its three files."""
    return generation_dir(directory, generation) / key.modality / key.origin


@dataclass(frozen=True)
class PartitionManifest:
    """A built partition and how many records its segment holds."""

    key: PartitionKey
    count: int


@dataclass(frozen=True)
class Manifest:
    """The live generation; `folded_seq` is the last journal seq it contains."""

    generation: int
    folded_seq: int
    n_trees: int
    partitions: tuple[PartitionManifest, ...]

    def write(self, directory: Path) -> None:
        """Atomically replaces the manifest: the commit point of a create or rebuild."""
        document = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "generation": self.generation,
            "folded_seq": self.folded_seq,
            "n_trees": self.n_trees,
            "partitions": [
                {"modality": p.key.modality, "origin": p.key.origin, "count": p.count}
                for p in self.partitions
            ],
        }
        data = json.dumps(document, indent=2, sort_keys=True).encode() + b"\n"
        write_atomically(directory / MANIFEST_FILE, data)

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        """Reads and checks the manifest; anything unexpected is a GalleryError."""
        path = directory / MANIFEST_FILE
        try:
            document = json.loads(path.read_bytes())
        except FileNotFoundError as error:
            raise GalleryError(f"{directory} is not a gallery (no {MANIFEST_FILE})") from error
        except (OSError, ValueError) as error:
            raise GalleryError(f"cannot read {path}: {error}") from error
        try:
            if document["format"] != FORMAT or document["version"] != FORMAT_VERSION:
                raise GalleryError(f"unsupported format {document['format']!r}")
            partitions = tuple(
                PartitionManifest(
                    key=PartitionKey(
                        modality=check_modality("modality", p["modality"]),
                        origin=check_origin("origin", p["origin"]),
                    ),
                    count=_natural(p["count"], "count"),
                )
                for p in document["partitions"]
            )
            manifest = cls(
                generation=_natural(document["generation"], "generation"),
                folded_seq=_natural(document["folded_seq"], "folded_seq"),
                n_trees=check_trees("n_trees", document["n_trees"]),
                partitions=partitions,
            )
        except (KeyError, TypeError) as error:
            raise GalleryError(f"{path}: incomplete manifest: {error}") from error
        except MatcherError as error:
            raise GalleryError(f"{path}: {error}") from error
        if len({p.key for p in partitions}) != len(partitions):
            raise GalleryError(f"{path}: a partition is listed twice")
        return manifest


def _natural(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise GalleryError(f"{name} {value!r} is not a non-negative integer")
    return value
