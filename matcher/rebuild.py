"""Background rebuilds: fold the buffers and tombstones once enough changes are pending.

Searches scan each partition's buffer exactly, so their cost grows with the buffer; a
rebuild moves those records into Annoy. It runs in one daemon thread, while the gallery
keeps serving (see Gallery.rebuild). A failed rebuild is logged and retried only after
another `threshold` changes, so a full disk does not turn every Add into a rebuild.
"""

from __future__ import annotations

import logging
import threading

from matcher.errors import GalleryClosedError, MatcherError
from matcher.gallery import Gallery

LOG = logging.getLogger(__name__)


class BackgroundRebuilder:
    """Rebuilds `gallery` when `notify` finds at least `threshold` pending changes."""

    def __init__(self, gallery: Gallery, threshold: int) -> None:
        self._gallery = gallery
        self._threshold = threshold
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
        """Starts the thread; a threshold of 0 means never rebuild."""
        if self._threshold > 0:
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

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
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
