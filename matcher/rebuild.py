"""Background rebuilds: fold the buffers and tombstones, drop expired records.

Searches scan each partition's buffer exactly, so their cost grows with the buffer; a
rebuild moves those records into Annoy. A rebuild is also what deletes an expunged or
expired template from disk. So the thread rebuilds when either
- `threshold` changes are pending (checked after each Add or Remove), or
- `interval` seconds have passed and anything at all is pending or expired (a removal
  then leaves the disk within about `interval` plus one rebuild, however quiet the
  gallery is).
It runs in one daemon thread while the gallery keeps serving (see Gallery.rebuild). A
failed rebuild is logged and retried only after another `threshold` changes or at the next
interval, so a full disk does not turn every Add into a rebuild.
"""

from __future__ import annotations

import logging
import threading

from matcher.errors import GalleryClosedError, MatcherError
from matcher.gallery import Gallery

LOG = logging.getLogger(__name__)


class BackgroundRebuilder:
    """Rebuilds `gallery` at `threshold` pending changes, or every `interval` seconds when
    anything is pending or expired. 0 turns either trigger off."""

    def __init__(self, gallery: Gallery, threshold: int, *, interval: float = 0.0) -> None:
        self._gallery = gallery
        self._threshold = threshold
        self._interval = interval
        self._retry_at = threshold
        self._wake = threading.Event()
        self._stopping = False
        self._done = threading.Condition()
        self._completed = 0
        self._thread = threading.Thread(target=self._run, name="gallery-rebuild", daemon=True)

    @property
    def completed(self) -> int:
        """How many background rebuilds have finished successfully."""
        with self._done:
            return self._completed

    def start(self) -> None:
        """Starts the thread, unless both triggers are off."""
        if self._threshold > 0 or self._interval > 0:
            self._thread.start()

    def notify(self) -> None:
        """Called after each mutation; wakes the thread when the threshold is reached."""
        if self._threshold <= 0:
            return
        try:
            pending = self._gallery.pending_changes()
        except GalleryClosedError:
            return
        if pending >= self._retry_at:
            self._wake.set()

    def wait_for(self, completed: int, timeout: float) -> bool:
        """Waits until `completed` rebuilds have finished; False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._completed >= completed, timeout)

    def stop(self) -> None:
        """Stops the thread, letting a running rebuild finish."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _safe_pending(self) -> int:
        try:
            return self._gallery.pending_changes()
        except MatcherError:
            return 0

    def _anything_to_purge(self) -> bool:
        try:
            return self._gallery.outstanding() > 0
        except MatcherError:
            return False

    def _run(self) -> None:
        while True:
            woken = self._wake.wait(self._interval if self._interval > 0 else None)
            self._wake.clear()
            if self._stopping:
                return
            if not woken and not self._anything_to_purge():
                continue
            try:
                self._gallery.rebuild()
                self._retry_at = self._threshold
            except GalleryClosedError:
                return
            except Exception:
                # The thread must outlive a failure: log it, keep serving from the buffers.
                LOG.exception("background rebuild failed; the buffers keep serving")
                self._retry_at = self._safe_pending() + self._threshold
                continue
            with self._done:
                self._completed += 1
                self._done.notify_all()
