"""The gallery's on-disk layout and its manifest, the single commit point of a rebuild.

```
DIR/manifest.json       which generation is live, the last journal seq folded into it,
                        n_trees, the partitions (modality, origin, record count) and the
                        history of every build (which seqs each folded in, and when)
DIR/journal.jsonl       additions and removals after that seq (matcher/journal.py)
DIR/lock                flock'ed while a process has the gallery open
DIR/generations/<G>/<modality>/<origin>/{index.ann, vectors.npy, records.jsonl}
```
A rebuild writes generation G+1 beside G, then replaces manifest.json atomically; until
that rename G is live, after it G+1 is. Generations the manifest does not name, and `*.tmp`
files, are leftovers of an interrupted rebuild and are deleted on open.

The history answers "which rebuild removed this record?": a removal with journal seq S is
purged (its template deleted from every file) by the first build whose `folded_seq` >= S.
It lives in the manifest so that it commits atomically with the build it describes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from matcher.codec import format_moment, parse_moment
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
# Trees per index unless configured: beyond 10 they cost little (the vectors dominate the
# file and the build) and buy recall at a given search_k (README, "Matcher benchmarks").
DEFAULT_N_TREES = 40


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
class BuildRecord:
    """One committed build (the create or a rebuild) and what it folded in or dropped.

    `expunged`: removals folded in (journal seqs after the previous build's folded_seq);
    their templates are in no file of this generation. `expired`: records past retain_until
    left out of it. `reused`: partitions whose unchanged segment was linked, not rebuilt.
    """

    generation: int
    folded_seq: int
    committed_at: datetime
    records: int
    expunged: int
    expired: int
    reused: int = 0

    def to_json(self) -> dict[str, object]:
        """The manifest's JSON form of this record."""
        return {
            "generation": self.generation,
            "folded_seq": self.folded_seq,
            "committed_at": format_moment(self.committed_at),
            "records": self.records,
            "expunged": self.expunged,
            "expired": self.expired,
            "reused": self.reused,
        }

    @classmethod
    def from_json(cls, document: dict[str, object]) -> BuildRecord:
        """Reads what `to_json` wrote; KeyError/TypeError/GalleryError when malformed."""
        return cls(
            generation=_natural(document["generation"], "history.generation"),
            folded_seq=_natural(document["folded_seq"], "history.folded_seq"),
            committed_at=parse_moment(document["committed_at"]),
            records=_natural(document["records"], "history.records"),
            expunged=_natural(document["expunged"], "history.expunged"),
            expired=_natural(document["expired"], "history.expired"),
            reused=_natural(document["reused"], "history.reused"),
        )


@dataclass(frozen=True)
class Manifest:
    """The live generation; `folded_seq` is the last journal seq it contains."""

    generation: int
    folded_seq: int
    n_trees: int
    partitions: tuple[PartitionManifest, ...]
    history: tuple[BuildRecord, ...] = ()

    def build_folding(self, seq: int) -> BuildRecord | None:
        """The first build that folded journal seq `seq` in; None when none has yet."""
        for build in self.history:
            if build.folded_seq >= seq:
                return build
        return None

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
            "history": [build.to_json() for build in self.history],
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
            history = tuple(BuildRecord.from_json(b) for b in document.get("history", []))
            manifest = cls(
                generation=_natural(document["generation"], "generation"),
                folded_seq=_natural(document["folded_seq"], "folded_seq"),
                n_trees=check_trees("n_trees", document["n_trees"]),
                partitions=partitions,
                history=history,
            )
        except (KeyError, TypeError) as error:
            raise GalleryError(f"{path}: incomplete manifest: {error}") from error
        except MatcherError as error:
            raise GalleryError(f"{path}: {error}") from error
        if len({p.key for p in partitions}) != len(partitions):
            raise GalleryError(f"{path}: a partition is listed twice")
        _check_history(path, manifest)
        return manifest


def _check_history(path: Path, manifest: Manifest) -> None:
    """Builds are listed in order, and the last one is the live generation."""
    previous: BuildRecord | None = None
    for build in manifest.history:
        if previous is not None and (
            build.generation <= previous.generation or build.folded_seq < previous.folded_seq
        ):
            raise GalleryError(f"{path}: history is out of order at generation {build.generation}")
        previous = build
    if previous is not None and (
        previous.generation != manifest.generation or previous.folded_seq != manifest.folded_seq
    ):
        raise GalleryError(f"{path}: history does not end with the live generation")


def _natural(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise GalleryError(f"{name} {value!r} is not a non-negative integer")
    return value
