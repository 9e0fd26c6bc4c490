"""The append-only journal of additions and removals since the last build.

One JSON object per line: `{"seq": 7, "op": "add", "record": {...}}` (template included) or
`{"seq": 8, "op": "remove", "record_id": "..."}`. Each line is written with one `write` and
fsynced before `append` returns, so a returned seq survives a crash. On open, a final line
without its newline is a write that never returned: it is cut off. Any other line that does
not decode means corruption, and the gallery refuses to open (fail closed).

Until a rebuild folds them into a new generation, the journal holds the templates of added
records, including ones removed since; `rewrite` drops the folded lines.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from matcher.codec import decode_record, encode_record
from matcher.durable import fsync_path, write_atomically
from matcher.errors import GalleryClosedError, GalleryError, MatcherError
from matcher.records import GalleryRecord, check_record_id

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class AddEntry:
    """A record was added with this seq."""

    seq: int
    record: GalleryRecord


@dataclass(frozen=True)
class RemoveEntry:
    """The live record with this id was removed with this seq."""

    seq: int
    record_id: str


JournalEntry = AddEntry | RemoveEntry


class Journal:
    """Appends durable entries to `journal.jsonl`. Callers serialise appends (a lock)."""

    def __init__(self, path: Path, last_seq: int, folded_lines: int = 0) -> None:
        self._path = path
        self._last_seq = last_seq
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._failed = False
        # Lines at or before the folded seq found on open: a build committed but the
        # rewrite that should have dropped them did not happen.
        self.folded_lines = folded_lines

    @staticmethod
    def create(path: Path) -> None:
        """Creates an empty journal durably."""
        write_atomically(path, b"")

    @classmethod
    def open(cls, path: Path, folded_seq: int) -> tuple[Journal, list[JournalEntry]]:
        """Opens the journal and returns the entries after `folded_seq`, in order."""
        entries = _read_entries(path)
        previous = 0
        for entry in entries:
            if entry.seq <= previous:
                raise GalleryError(f"{path}: seq {entry.seq} follows seq {previous}")
            previous = entry.seq
        replay = [entry for entry in entries if entry.seq > folded_seq]
        last_seq = max(folded_seq, previous)
        return cls(path, last_seq, len(entries) - len(replay)), replay

    @property
    def last_seq(self) -> int:
        """The seq of the last durable entry (or of the last folded one)."""
        return self._last_seq

    def append_add(self, record: GalleryRecord) -> int:
        """Durably records an addition; returns its seq."""
        seq = self._last_seq + 1
        return self._append({"seq": seq, "op": "add", "record": encode_record(record)}, seq)

    def append_remove(self, record_id: str) -> int:
        """Durably records a removal; returns its seq."""
        seq = self._last_seq + 1
        return self._append({"seq": seq, "op": "remove", "record_id": record_id}, seq)

    def rewrite(self, keep_after: int) -> None:
        """Atomically replaces the journal with only its entries after `keep_after`."""
        fd = self._require_open()
        lines = [line for line in _read_lines(self._path) if _line_seq(line) > keep_after]
        write_atomically(self._path, b"".join(line + b"\n" for line in lines))
        try:
            fresh = os.open(self._path, os.O_WRONLY | os.O_APPEND)
        except OSError as error:
            # Appending to the old, now unlinked file would lose entries: refuse instead.
            self._failed = True
            raise GalleryError(f"cannot reopen the rewritten journal: {error}") from error
        os.close(fd)
        self._fd = fresh

    def close(self) -> None:
        """Closes the file; later appends raise GalleryClosedError."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _require_open(self) -> int:
        if self._failed:
            raise GalleryClosedError("the journal is in an unknown state after a failed write")
        if self._fd is None:
            raise GalleryClosedError("the journal is closed")
        return self._fd

    def _append(self, document: dict[str, object], seq: int) -> int:
        fd = self._require_open()
        data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as error:
            self._undo(fd, size)
            raise GalleryError(f"cannot write the journal durably: {error}") from error
        self._last_seq = seq
        return seq

    def _undo(self, fd: int, size: int) -> None:
        """Cuts a failed append off; if even that fails, refuse every later write."""
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        except OSError:
            LOG.exception("cannot undo a failed journal write; the journal refuses writes")
            self._failed = True


def _read_lines(path: Path) -> list[bytes]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise GalleryError(f"cannot read {path}: {error}") from error
    return data.splitlines()


def _line_seq(line: bytes) -> int:
    try:
        seq = json.loads(line)["seq"]
    except (ValueError, KeyError, TypeError) as error:
        raise GalleryError(f"corrupt journal line: {error}") from error
    if not isinstance(seq, int):
        raise GalleryError(f"corrupt journal line: seq {seq!r}")
    return seq


def _read_entries(path: Path) -> list[JournalEntry]:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise GalleryError(f"cannot read {path}: {error}") from error
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        LOG.warning("%s: cutting off a torn final line (%d bytes)", path, len(data) - complete)
        with path.open("r+b") as stream:
            stream.truncate(complete)
            stream.flush()
            os.fsync(stream.fileno())
        fsync_path(path.parent)
    lines = data[:complete].splitlines()
    return [_decode_line(path, number, line) for number, line in enumerate(lines, start=1)]


def _decode_line(path: Path, number: int, line: bytes) -> JournalEntry:
    try:
        document = json.loads(line)
        seq = document["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise GalleryError(f"seq {seq!r} is not a positive integer")
        operation = document["op"]
        if operation == "add":
            return AddEntry(seq=seq, record=decode_record(document["record"]))
        if operation == "remove":
            return RemoveEntry(
                seq=seq, record_id=check_record_id("record_id", document["record_id"])
            )
        raise GalleryError(f"unknown operation {operation!r}")
    except (ValueError, KeyError, TypeError, MatcherError) as error:
        raise GalleryError(f"{path}:{number}: corrupt journal entry: {error}") from error
