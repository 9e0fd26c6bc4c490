"""Where an audit log keeps its files, and how its JSON Lines file is read back.

Reading is shared by the writer (on open) and the offline verifier, so both agree on what a
complete line, a torn tail and an oversized line are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker.audit.entry import MAX_LINE_BYTES

__all__ = ["LogLayout", "RawLine", "read_lines"]


@dataclass(frozen=True)
class LogLayout:
    """The files of one log directory."""

    directory: Path

    @property
    def log(self) -> Path:
        """The entries, one canonical JSON line each (a single segment for now)."""
        return self.directory / "log.jsonl"

    @property
    def jwks(self) -> Path:
        """Every public key that ever signed in this log, newest first."""
        return self.directory / "keys.jwks.json"

    @property
    def checkpoint(self) -> Path:
        """The latest signed C2SP checkpoint."""
        return self.directory / "checkpoint"

    @property
    def lock(self) -> Path:
        """flock'ed by the one process that may append."""
        return self.directory / "lock"

    @property
    def recovery(self) -> Path:
        """A torn tail cut off but not yet recorded by a recovery entry (crash in between)."""
        return self.directory / "recovery.pending"


@dataclass(frozen=True)
class RawLine:
    """One line of the log file. `complete` is False for a last line with no newline (torn),
    or for a line longer than MAX_LINE_BYTES (whose `data` is then only its start)."""

    index: int
    offset: int
    data: bytes
    complete: bool


def read_lines(path: Path) -> Iterator[RawLine]:
    """Yields the lines of `path` without their newlines; never reads more than one bounded
    line into memory."""
    with path.open("rb") as f:
        index = offset = 0
        while True:
            chunk = f.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            if chunk.endswith(b"\n"):
                yield RawLine(index, offset, chunk[:-1], complete=True)
            else:
                yield RawLine(index, offset, chunk, complete=False)
                if len(chunk) > MAX_LINE_BYTES:
                    return  # an oversized line: nothing after it can be trusted to align
            offset += len(chunk)
            index += 1
