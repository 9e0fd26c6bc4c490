"""Crash-safe file replacement: a reader sees the old file or the new one, never a torn mix.

Write a temporary file in the same directory, fsync it, rename it over the target, then fsync
the directory so the rename itself survives a power cut (POSIX leaves it in the page cache).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["Fsync", "fsync_directory", "write_atomic"]

Fsync = Callable[[int], None]


def fsync_directory(directory: Path, *, fsync: Fsync = os.fsync) -> None:
    """Makes a rename or a file creation in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path,
    data: bytes,
    *,
    mode: int = 0o644,
    overwrite: bool = True,
    fsync: Fsync = os.fsync,
) -> None:
    """Writes `data` to `path` atomically with permissions `mode` (set before any byte lands).

    With overwrite=False an existing file is never replaced (FileExistsError): the new file
    is hard-linked into place, which fails atomically if the name is taken.
    """
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            tmp.unlink()
        fsync_directory(directory, fsync=fsync)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
