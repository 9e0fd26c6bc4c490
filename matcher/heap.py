"""Keeps Python's cyclic garbage collector from stalling searches on a large gallery.

A gallery of a million records holds millions of small long-lived objects (entries and
their provenance). Each full collection walks all of them: hundreds of milliseconds with
the GIL held, during which no search makes progress, and loading them triggers many such
collections. None of them is ever part of a reference cycle, so the collector has nothing to
find there: load them with automatic collection off, then `gc.freeze()` them into the
permanent generation, which later collections skip. Objects still die by reference count.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def long_lived_allocations() -> Iterator[None]:
    """Runs the block with automatic collection off, then freezes what it allocated."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
