"""The gallery: partitions of records, durable additions and removals, search and rebuild.

Persistence (see matcher/manifest.py for the layout): a live generation of built segments
named by `manifest.json`, plus `journal.jsonl`, every addition and removal since, fsynced
before `add`/`remove` return and replayed on open. `rebuild` folds the journal into a new
generation and swaps it in with one atomic rename of the manifest; the old generation's
files, and the journal lines it folded (templates of removed records included), are then
deleted. The manifest's history says which build purged which removal (`purge_status`).

Retention: a record past its retain_until is never returned (the gallery's clock moves
`valid_at` up to now), and no build writes it: create and rebuild drop it.

Concurrency: searches, comparisons and reads share a readers-writer lock; mutations take a
mutation lock (journal order = seq order), write the journal, then hold the write lock only
to update memory. A rebuild snapshots under the mutation lock, builds without any lock, and
swaps under both, so additions and searches go on while it builds. Only one process may
open a gallery: `DIR/lock` is flock'ed.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from matcher.errors import DuplicateRecordError, GalleryClosedError, GalleryError, InvalidInputError
from matcher.generation import (
    BuildNotes,
    build_generation,
    collect_garbage,
    load_expired,
    load_generation,
    plan_create,
    plan_rebuild,
    remove_tree,
    warm_generation,
)
from matcher.journal import AddEntry, Journal, JournalEntry, RemoveEntry
from matcher.manifest import (
    DEFAULT_N_TREES,
    JOURNAL_FILE,
    LOCK_FILE,
    MANIFEST_FILE,
    BuildRecord,
    Manifest,
    check_trees,
    generation_dir,
    segment_dir,
)
from matcher.partition import Partition, PartitionKey, as_wire_score, rank
from matcher.records import (
    GalleryRecord,
    MatchResult,
    PartitionSummary,
    SearchFilters,
    check_record_id,
)
from matcher.rwlock import ReadWriteLock
from matcher.segment import RecordEntry, Segment, load_segment
from matcher.templates import check_modality, normalise_template

LOG = logging.getLogger(__name__)
# Results per search: the proto's bound; more is a bulk export, not an identification.
MAX_K = 1_000
LOST_AND_FOUND = "lost+found"
# Annoy nodes inspected per query and partition; bounds the cost of one search.
MAX_SEARCH_K = 10_000_000
# Annoy nodes per query and partition unless configured: 99.8 % rank-1 identification on
# partitions of 250,000 faces with DEFAULT_N_TREES (README, "Matcher benchmarks"); smaller
# partitions are then searched all but exhaustively.
DEFAULT_SEARCH_K = 50_000

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The gallery's default clock."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Removal:
    """What `remove` did: `journal_seq` is the durable tombstone's seq (0 when nothing was)."""

    removed: bool
    journal_seq: int


@dataclass(frozen=True)
class PurgeStatus:
    """Whether the change with `journal_seq` has been folded into a build whose old files are
    deleted: for a removal, whether the template is gone from the gallery's files, and which
    build (`generation`, committed at `purged_at`) removed it."""

    journal_seq: int
    purged: bool
    generation: int | None
    purged_at: datetime | None
    live_generation: int


@dataclass(frozen=True)
class _Location:
    """Where a live record is, and the seq that added it (its identity across re-adds)."""

    key: PartitionKey
    seq: int


class Gallery:
    """Records of every partition, durable on disk. Use `create` or `open`, then `close`."""

    def __init__(
        self,
        directory: Path,
        lock_fd: int,
        manifest: Manifest,
        *,
        search_k: int,
        n_trees: int,
        clock: Clock,
    ) -> None:
        self.directory = directory
        self._lock_fd = lock_fd
        self._manifest = manifest
        self._search_k = search_k
        self._n_trees = n_trees
        self._clock = clock
        self._journal: Journal | None = None
        self._partitions: dict[PartitionKey, Partition] = {}
        self._locations: dict[str, _Location] = {}
        # Seqs of removals not yet folded into a build: their templates are still on disk.
        self._removals: list[int] = []
        # The last build whose predecessor's files are deleted (see `purge_status`).
        self._purged_generation = 0
        # Ids the live generation left out as expired (see generation.EXPIRED_FILE).
        self._expired: frozenset[str] = frozenset()
        self._rw = ReadWriteLock()
        self._mutation = threading.Lock()
        self._rebuilding = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        n_trees: int = DEFAULT_N_TREES,
        search_k: int = DEFAULT_SEARCH_K,
        records: Iterable[GalleryRecord] = (),
        clock: Clock = utc_now,
    ) -> Gallery:
        """Creates a gallery in a new or empty directory, optionally built from `records`.

        The records get journal seqs 1..n and are built straight into generation 1 (no
        journal lines), which is how large galleries are made; records already past
        retain_until are left out. `manifest.json` is written last; if creation fails, what
        was written is removed.
        """
        try:
            return cls._create(
                directory, n_trees=n_trees, search_k=search_k, records=records, clock=clock
            )
        except OSError as error:
            raise GalleryError(f"cannot create a gallery in {directory}: {error}") from error

    @classmethod
    def _create(
        cls,
        directory: Path,
        *,
        n_trees: int,
        search_k: int,
        records: Iterable[GalleryRecord],
        clock: Clock,
    ) -> Gallery:
        check_trees("n_trees", n_trees)
        _check_search_k(search_k)
        initial = list(records)
        seen: set[str] = set()
        for record in initial:
            if record.record_id in seen:
                raise DuplicateRecordError(record.record_id)
            seen.add(record.record_id)
        if directory.exists() and not is_empty_directory(directory):
            raise GalleryError(f"{directory} exists and is not an empty directory")
        made_directory = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        try:
            lock_fd = _lock(directory)
            try:
                now = clock()
                manifest = build_generation(
                    directory,
                    generation=1,
                    folded_seq=len(initial),
                    n_trees=n_trees,
                    plan=plan_create(initial, now),
                    notes=BuildNotes(committed_at=now, expunged=0),
                ).manifest
                Journal.create(directory / JOURNAL_FILE)
                manifest.write(directory)
            finally:
                os.close(lock_fd)
        except BaseException:
            _empty(directory, remove_itself=made_directory)
            raise
        return cls.open(directory, search_k=search_k, clock=clock)

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        search_k: int = DEFAULT_SEARCH_K,
        n_trees: int | None = None,
        clock: Clock = utc_now,
    ) -> Gallery:
        """Opens a gallery: loads the live generation (mmap) and replays the journal.

        `n_trees`, when given, is used by later rebuilds instead of the manifest's. Journal
        lines a build already folded (left by a crash right after its commit) are deleted.
        """
        try:
            return cls._open(directory, search_k=search_k, n_trees=n_trees, clock=clock)
        except OSError as error:
            raise GalleryError(f"cannot open the gallery in {directory}: {error}") from error

    @classmethod
    def _open(cls, directory: Path, *, search_k: int, n_trees: int | None, clock: Clock) -> Gallery:
        _check_search_k(search_k)
        if n_trees is not None:
            check_trees("n_trees", n_trees)
        if not (directory / MANIFEST_FILE).is_file():
            raise GalleryError(f"{directory} is not a gallery (no {MANIFEST_FILE})")
        lock_fd = _lock(directory)
        gallery: Gallery | None = None
        try:
            manifest = Manifest.read(directory)
            collect_garbage(directory, manifest.generation)
            gallery = cls(
                directory,
                lock_fd,
                manifest,
                search_k=search_k,
                n_trees=manifest.n_trees if n_trees is None else n_trees,
                clock=clock,
            )
            gallery._load(manifest)
        except BaseException:
            if gallery is not None:
                gallery._release()
            else:
                os.close(lock_fd)
            raise
        return gallery

    def close(self) -> None:
        """Waits for a running rebuild, then closes files; later calls raise GalleryClosedError."""
        with self._rebuilding, self._mutation:
            if self._closed:
                return
            with self._rw.write():
                self._closed = True
            self._release()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- mutations -------------------------------------------------------------------------

    def add(self, record: GalleryRecord) -> int:
        """Adds a record, durably; returns its journal seq. Searchable when this returns."""
        if not isinstance(record, GalleryRecord):
            raise InvalidInputError("record", "expected a GalleryRecord")
        with self._mutation:
            journal = self._usable_journal()
            if record.record_id in self._locations:
                raise DuplicateRecordError(record.record_id)
            seq = journal.append_add(record)
            with self._rw.write():
                self._apply(AddEntry(seq=seq, record=record))
        return seq

    def remove(self, record_id: str) -> Removal:
        """Removes a record, durably; it is never returned again once this returns."""
        check_record_id("record_id", record_id)
        with self._mutation:
            journal = self._usable_journal()
            if record_id not in self._locations:
                return Removal(removed=False, journal_seq=0)
            seq = journal.append_remove(record_id)
            with self._rw.write():
                self._apply(RemoveEntry(seq=seq, record_id=record_id))
        return Removal(removed=True, journal_seq=seq)

    # -- queries ---------------------------------------------------------------------------

    def get(self, record_id: str) -> GalleryRecord | None:
        """The live record with this id (template included), or None."""
        check_record_id("record_id", record_id)
        with self._rw.read():
            self._check_open()
            location = self._locations.get(record_id)
            if location is None:
                return None
            found = self._partitions[location.key].get(record_id)
        if found is None:
            raise GalleryError(f"record {record_id!r} is indexed but missing")
        entry, template = found
        return GalleryRecord(
            record_id=record_id,
            modality=location.key.modality,
            template=template,
            provenance=entry.provenance,
        )

    def search(
        self,
        modality: str,
        probe: npt.ArrayLike,
        k: int,
        min_score: float,
        filters: SearchFilters,
        *,
        search_k: int | None = None,
    ) -> tuple[list[MatchResult], list[str]]:
        """1:N search over the modality's partitions the filters admit.

        Returns the best k matches with score >= min_score (best first, ties by record_id)
        and the partitions searched as "modality/origin". Partitions whose origin the filters
        exclude are never touched. `search_k` overrides the gallery's for this search (the
        benchmarks compare settings with it).
        """
        check_modality("modality", modality)
        vector = normalise_template("probe", modality, probe)
        _check_k(k)
        _check_min_score(min_score)
        _check_filters(filters)
        if search_k is None:
            search_k = self._search_k
        _check_search_k(search_k)
        filters = filters.valid_no_earlier_than(self._clock())
        with self._rw.read():
            self._check_open()
            keys = sorted(
                key
                for key in self._partitions
                if key.modality == modality and filters.admits_origin(key.origin)
            )
            results: list[MatchResult] = []
            for key in keys:
                results.extend(
                    self._partitions[key].search(vector, k, min_score, filters, search_k)
                )
        return rank(results, k), [str(key) for key in keys]

    def compare(
        self, record_id: str, modality: str, probe: npt.ArrayLike, filters: SearchFilters
    ) -> MatchResult | None:
        """1:1 exact comparison; None when the record is absent or the filters reject it."""
        check_record_id("record_id", record_id)
        check_modality("modality", modality)
        vector = normalise_template("probe", modality, probe)
        _check_filters(filters)
        filters = filters.valid_no_earlier_than(self._clock())
        with self._rw.read():
            self._check_open()
            location = self._locations.get(record_id)
            if location is None:
                return None
            if location.key.modality != modality:
                raise InvalidInputError(
                    "modality",
                    f"record {record_id!r} holds a {location.key.modality} template, "
                    f"the probe is {modality}",
                )
            if not filters.admits_origin(location.key.origin):
                return None
            found = self._partitions[location.key].get(record_id)
        if found is None:
            raise GalleryError(f"record {record_id!r} is indexed but missing")
        entry, template = found
        if not filters.admits(entry.provenance):
            return None
        score = as_wire_score(float(template.astype(np.float64) @ vector.astype(np.float64)))
        return MatchResult(record_id=record_id, score=score, provenance=entry.provenance)

    def partitions(self) -> list[PartitionSummary]:
        """Every partition holding at least one live record, sorted by modality then origin."""
        with self._rw.read():
            self._check_open()
            counts = [(key, len(p)) for key, p in self._partitions.items()]
        return [
            PartitionSummary(modality=key.modality, origin_jurisdiction=key.origin, record_count=n)
            for key, n in sorted(counts)
            if n > 0
        ]

    def pending_changes(self) -> int:
        """Buffered additions plus tombstones over all partitions: what a rebuild folds."""
        with self._rw.read():
            self._check_open()
            return sum(p.pending_changes for p in self._partitions.values())

    def outstanding(self) -> int:
        """Pending changes plus live records past retain_until: what a rebuild would fold in
        or drop. Zero means a rebuild would change nothing. Scans every record."""
        now = self._clock()
        with self._rw.read():
            self._check_open()
            return sum(p.pending_changes + p.expired_count(now) for p in self._partitions.values())

    def history(self) -> tuple[BuildRecord, ...]:
        """Every build of the live lineage, oldest first (the create is the first)."""
        with self._rw.read():
            self._check_open()
            return self._manifest.history

    def purge_status(self, journal_seq: int) -> PurgeStatus:
        """Which build folded in the change with `journal_seq` and deleted what preceded it.

        For the seq a `remove` returned: once `purged`, the template is in no file of the
        gallery, and `generation` names the rebuild that removed it (for the audit log).
        """
        if not isinstance(journal_seq, int) or isinstance(journal_seq, bool) or journal_seq < 1:
            raise InvalidInputError(
                "journal_seq", f"must be a positive integer, got {journal_seq!r}"
            )
        with self._rw.read():
            journal = self._usable_journal()
            if journal_seq > journal.last_seq:
                raise InvalidInputError(
                    "journal_seq", f"{journal_seq} is after the last seq ({journal.last_seq})"
                )
            manifest = self._manifest
            build = manifest.build_folding(journal_seq)
            if build is not None and build.generation > self._purged_generation:
                build = None  # committed, but the old files are not deleted yet
        return PurgeStatus(
            journal_seq=journal_seq,
            purged=build is not None,
            generation=None if build is None else build.generation,
            purged_at=None if build is None else build.committed_at,
            live_generation=manifest.generation,
        )

    # -- rebuild ---------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Folds every buffer and tombstone into fresh Annoy indexes and swaps them in.

        Additions, removals and searches continue while the new generation is built. After
        the swap the old generation's files and the folded journal lines are deleted, so a
        template removed before the rebuild started is gone from the gallery's files.
        """
        try:
            self._rebuild()
        except OSError as error:
            raise GalleryError(f"rebuild failed: {error}") from error

    def _rebuild(self) -> None:
        started = time.monotonic()
        with self._rebuilding:
            with self._mutation:
                self._usable_journal()
                old = self._manifest
                folded_seq = self._require_journal().last_seq
                now = self._clock()
                snapshots = [p.snapshot(now) for p in self._partitions.values()]
                expunged = len(self._removals)
            generation = old.generation + 1
            plan = plan_rebuild(snapshots, reuse=self._n_trees == old.n_trees)
            LOG.debug("generation %d: snapshot taken at seq %d", old.generation + 1, folded_seq)
            built = build_generation(
                self.directory,
                generation=generation,
                folded_seq=folded_seq,
                n_trees=self._n_trees,
                plan=plan,
                notes=BuildNotes(committed_at=now, expunged=expunged, previous=old.history),
            )
            manifest = built.manifest
            segments = load_generation(self.directory, built)
            LOG.debug("generation %d: built and loaded; warming", generation)
            warm_generation(self.directory, built, plan.groups)
            LOG.debug("generation %d: warm; committing", generation)
            committed = False
            try:
                with self._mutation:
                    try:
                        self._usable_journal()
                        manifest.write(self.directory)  # the commit point
                    except BaseException:
                        for segment in segments.values():
                            segment.close()
                        # Whichever generation the manifest names survives the next open.
                        raise
                    committed = True
                    # Mutations are excluded (we hold their lock) but searches go on until
                    # the new partitions are ready; only the swap itself excludes them.
                    fresh = self._successors(segments, folded_seq)
                    # Expired records still live are dropped now; those removed while the
                    # build ran are gone already (replay skips their removal: `_apply`).
                    dropped = [
                        entry.record_id
                        for key, entry in plan.expired
                        if self._locations.get(entry.record_id) == _Location(key, entry.seq)
                    ]
                    LOG.debug("generation %d: committed; swapping", generation)
                    with self._rw.write():
                        retired, self._partitions = self._partitions, fresh
                        for record_id in dropped:
                            del self._locations[record_id]
                        self._manifest = manifest
                        self._removals = [seq for seq in self._removals if seq > folded_seq]
                        self._expired = frozenset(e.record_id for _, e in plan.expired)
                    # No search can reach the retired partitions any more (they are reached
                    # only under the read lock, through `_partitions`); unmapping gigabytes
                    # takes long enough that it must not happen under the write lock.
                    for partition in retired.values():
                        partition.close()
                    LOG.debug("generation %d: swapped; rewriting the journal", generation)
                    self._require_journal().rewrite(folded_seq)
            finally:
                if committed:
                    LOG.debug("generation %d: deleting generation %d", generation, old.generation)
                    remove_tree(generation_dir(self.directory, old.generation))
            self._purged_generation = generation
        record = manifest.history[-1]
        LOG.info(
            "generation %d live after %.1f s: %d records, %d partitions rebuilt, %d reused, "
            "%d removals purged, %d expired dropped",
            generation,
            time.monotonic() - started,
            record.records,
            len(plan.groups),
            record.reused,
            record.expunged,
            record.expired,
        )

    # -- internals -------------------------------------------------------------------------

    def _load(self, manifest: Manifest) -> None:
        self._expired = load_expired(self.directory, manifest.generation)
        for built in manifest.partitions:
            segment = load_segment(
                segment_dir(self.directory, manifest.generation, built.key),
                built.key.modality,
                built.count,
            )
            self._partitions[built.key] = Partition(built.key, segment)
            for entry in segment.entries:
                if entry.record_id in self._locations or entry.seq > manifest.folded_seq:
                    raise GalleryError(f"generation holds record {entry.record_id!r} wrongly")
                self._locations[entry.record_id] = _Location(built.key, entry.seq)
        journal, replay = Journal.open(self.directory / JOURNAL_FILE, manifest.folded_seq)
        self._journal = journal
        if journal.folded_lines:
            # A crash after a build's commit left lines it folded (templates of removed
            # records among them): finish the purge now.
            journal.rewrite(manifest.folded_seq)
        for change in replay:
            self._apply(change)
        self._purged_generation = manifest.generation

    def _apply(self, entry: JournalEntry) -> None:
        """Applies one journal entry to memory; inconsistency means a corrupt gallery."""
        if isinstance(entry, AddEntry):
            record = entry.record
            if record.record_id in self._locations:
                raise GalleryError(f"journal adds {record.record_id!r}, which is present")
            key = PartitionKey(record.modality, record.provenance.origin_jurisdiction)
            partition = self._partitions.setdefault(key, Partition(key))
            stored = RecordEntry(record.record_id, entry.seq, record.provenance)
            partition.add(stored, record.template)
            self._locations[record.record_id] = _Location(key, entry.seq)
            return
        self._removals.append(entry.seq)
        location = self._locations.pop(entry.record_id, None)
        if location is None and entry.record_id in self._expired:
            # Removed while the live generation was being built, which left it out as
            # expired; it can be expired only once, so later removals are checked again.
            self._expired = self._expired - {entry.record_id}
            return
        if location is None or not self._partitions[location.key].remove(entry.record_id):
            raise GalleryError(f"journal removes {entry.record_id!r}, which is absent")
        partition = self._partitions[location.key]
        if len(partition) == 0 and partition.pending_changes == 0:
            partition.close()
            del self._partitions[location.key]

    def _successors(
        self, segments: dict[PartitionKey, Segment], folded_seq: int
    ) -> dict[PartitionKey, Partition]:
        """The new segments plus what changed after the snapshot at `folded_seq`.

        A segment record that is no longer live under the same seq (removed, or removed and
        enrolled again) is tombstoned; records added after the snapshot stay buffered.
        Called with the mutation lock held, so the current partitions' buffers are stable.
        """
        fresh: dict[PartitionKey, Partition] = {}
        for key, segment in segments.items():
            partition = Partition(key, segment)
            partition.tombstone(
                position
                for position, entry in enumerate(segment.entries)
                if self._locations.get(entry.record_id) != _Location(key, entry.seq)
            )
            fresh[key] = partition
        for key, partition in self._partitions.items():
            for entry, vector in partition.buffered_after(folded_seq):
                fresh.setdefault(key, Partition(key)).add(entry, vector)
        return fresh

    def _check_open(self) -> None:
        if self._closed:
            raise GalleryClosedError("the gallery is closed")

    def _require_journal(self) -> Journal:
        if self._journal is None:
            raise GalleryClosedError("the gallery is closed")
        return self._journal

    def _usable_journal(self) -> Journal:
        self._check_open()
        return self._require_journal()

    def _release(self) -> None:
        for partition in self._partitions.values():
            partition.close()
        self._partitions = {}
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        os.close(self._lock_fd)


def is_empty_directory(directory: Path) -> bool:
    """True for a directory holding nothing but a file system's `lost+found`.

    A fresh ext4 volume mounted as the gallery directory holds `lost+found`; the gallery is
    created beside it and leaves it alone.
    """
    return directory.is_dir() and all(child.name == LOST_AND_FOUND for child in directory.iterdir())


def _check_search_k(search_k: object) -> None:
    if not isinstance(search_k, int) or isinstance(search_k, bool):
        raise InvalidInputError("search_k", f"{search_k!r} is not an integer")
    if not 1 <= search_k <= MAX_SEARCH_K:
        raise InvalidInputError("search_k", f"must be in 1..{MAX_SEARCH_K}, got {search_k}")


def _check_k(k: object) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
        raise InvalidInputError("k", f"must be an integer in 1..{MAX_K}, got {k!r}")


def _check_min_score(min_score: object) -> None:
    if (
        not isinstance(min_score, int | float)
        or isinstance(min_score, bool)
        or not math.isfinite(min_score)
        or not -1.0 <= min_score <= 1.0
    ):
        raise InvalidInputError("min_score", f"must be a number in [-1, 1], got {min_score!r}")


def _check_filters(filters: object) -> None:
    if not isinstance(filters, SearchFilters):
        raise InvalidInputError("filters", "required (SearchFilters)")


def _lock(directory: Path) -> int:
    """Takes the gallery's exclusive lock, so two processes never write one gallery."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        os.close(fd)
        raise GalleryError(f"{directory} is open in another process") from error
    return fd


def _empty(directory: Path, *, remove_itself: bool) -> None:
    if remove_itself:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.name == LOST_AND_FOUND:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
