"""Length-prefixed JSON frames over a pair of pipes, with deadlines on the parent's side.

The broker talks to its policy worker processes (broker/policy/worker.py) this way. A frame
is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Every read and write of
the parent waits at most until its deadline (time.monotonic()), so a worker that hangs can
be given up on and killed.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any

from broker.errors import DecisionTimeoutError, PolicyError

# A release input with a few hundred candidates is a few hundred KiB; a bundle is at most a
# few MiB. Anything larger is a corrupt length prefix, not a message, and must not make the
# reader allocate it.
MAX_FRAME_BYTES = 64 * 1024 * 1024
FRAME_HEADER = struct.Struct(">I")


class ChannelClosedError(PolicyError):
    """The other end closed its pipe, or sent something that is not a frame: it is gone."""


def encode(message: Any) -> bytes:
    """One frame. Raises PolicyError for a message that is not JSON (or is too large)."""
    try:
        body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as e:
        raise PolicyError(f"not JSON: {e}") from e
    if len(body) > MAX_FRAME_BYTES:
        raise PolicyError(f"message of {len(body)} bytes exceeds {MAX_FRAME_BYTES}")
    return FRAME_HEADER.pack(len(body)) + body


def decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise ChannelClosedError(f"a frame that is not JSON: {e}") from e


class Channel:
    """The parent's end: non-blocking pipes, every operation bounded by a deadline."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        self._read_fd = read_fd
        self._write_fd = write_fd
        self._buffer = bytearray()

    def send(self, message: Any, deadline: float) -> None:
        """Writes one frame. DecisionTimeoutError past the deadline; ChannelClosedError if
        the reader is gone."""
        data = memoryview(encode(message))
        while data:
            self._wait(self._write_fd, writable=True, deadline=deadline)
            try:
                written = os.write(self._write_fd, data)
            except BlockingIOError:
                continue
            except OSError as e:  # EPIPE: the worker died
                raise ChannelClosedError(f"cannot write: {e.strerror}") from e
            data = data[written:]

    def receive(self, deadline: float) -> Any:
        """Reads one frame. DecisionTimeoutError past the deadline; ChannelClosedError at
        end of file or on a malformed frame."""
        header = self._read_exactly(FRAME_HEADER.size, deadline)
        (length,) = FRAME_HEADER.unpack(header)
        if length > MAX_FRAME_BYTES:
            raise ChannelClosedError(f"a frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
        return decode(self._read_exactly(length, deadline))

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        while len(self._buffer) < size:
            self._wait(self._read_fd, writable=False, deadline=deadline)
            try:
                chunk = os.read(self._read_fd, max(65536, size - len(self._buffer)))
            except BlockingIOError:
                continue
            except OSError as e:
                raise ChannelClosedError(f"cannot read: {e.strerror}") from e
            if not chunk:
                raise ChannelClosedError("the worker closed its end")
            self._buffer += chunk
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    @staticmethod
    def _wait(fd: int, *, writable: bool, deadline: float) -> None:
        """poll(), not select(): a busy broker's descriptors go past select's 1,024."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DecisionTimeoutError("no answer before the deadline")
        poller = select.poll()
        poller.register(fd, select.POLLOUT if writable else select.POLLIN)
        if not poller.poll(max(1, math.ceil(remaining * 1000))):
            raise DecisionTimeoutError("no answer before the deadline")
