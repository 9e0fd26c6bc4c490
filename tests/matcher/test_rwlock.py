"""The readers-writer lock: readers share, a writer excludes and is not starved."""

from __future__ import annotations

import threading

from matcher.rwlock import ReadWriteLock

WAIT = 10.0  # a safety net against hanging, not a timing assertion


def test_readers_share_and_a_writer_waits_for_them() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(3)
    release = threading.Event()
    order: list[str] = []

    def reader(name: str) -> None:
        with lock.read():
            inside.wait(WAIT)  # both readers are inside at once
            release.wait(WAIT)
            order.append(name)

    def writer() -> None:
        with lock.write():
            order.append("writer")

    readers = [threading.Thread(target=reader, args=(n,)) for n in ("r1", "r2")]
    for thread in readers:
        thread.start()
    inside.wait(WAIT)
    writing = threading.Thread(target=writer)
    writing.start()
    release.set()
    for thread in [*readers, writing]:
        thread.join(WAIT)
    assert order[-1] == "writer"
    assert sorted(order[:2]) == ["r1", "r2"]


def test_a_waiting_writer_goes_before_new_readers() -> None:
    lock = ReadWriteLock()
    order: list[str] = []
    first_inside = threading.Event()
    release_first = threading.Event()

    def first_reader() -> None:
        with lock.read():
            first_inside.set()
            release_first.wait(WAIT)
        order.append("first reader out")

    def writer() -> None:
        with lock.write():
            order.append("writer")

    def late_reader() -> None:
        with lock.read():
            order.append("late reader")

    first = threading.Thread(target=first_reader)
    first.start()
    first_inside.wait(WAIT)
    writing = threading.Thread(target=writer)
    writing.start()
    while not lock._writers_waiting:  # the writer is queued
        threading.Event().wait(0.001)
    late = threading.Thread(target=late_reader)
    late.start()
    release_first.set()
    for thread in (first, writing, late):
        thread.join(WAIT)
    assert order.index("writer") < order.index("late reader")
