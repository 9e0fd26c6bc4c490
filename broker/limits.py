"""Per-officer and per-case request rates, as the policy's `rate_limit` obligation sets them.

Why the policy and not the broker's configuration: how often an officer may search, and how
many searches one case justifies, are rules of the agreements the compliance teams write
(a treaty may allow fewer cross-border searches than a domestic warrant), so they live in
the Rego library, travel with the decision, and are signed into its receipt.

Counting is an exact sliding window: at most N admitted requests in any window of the given
length. Only requests the policy allowed are counted, and a request refused for its rate is
not counted, so a caller who is over a limit cannot stay over it by retrying. The counts live
in the broker's memory (one replica, see the Helm chart): a restart forgets them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from broker.models import RateLimit

OFFICER_WINDOW_SECONDS = 60.0
CASE_WINDOW_SECONDS = 3600.0
# Each tracked officer or case costs a little memory; past this many the limiter drops the
# idle ones, and if every one is active it refuses new ones rather than grow without bound.
MAX_TRACKED_KEYS = 200_000
SWEEP_EVERY = 4096  # admissions between sweeps of idle keys


@dataclass(frozen=True)
class Exceeded:
    """Which limit a request would break, for the denial's reason."""

    limit: str  # "per_officer_per_minute" | "per_case_per_hour" | "tracked_keys"
    allowed: int

    def message(self) -> str:
        if self.limit == "tracked_keys":
            return "the broker tracks too many active officers and cases; try again later"
        unit = "minute per officer" if self.limit == "per_officer_per_minute" else "hour per case"
        return f"rate limit of {self.allowed} requests per {unit} reached; try again later"


class RateLimiter:
    """Thread-safe sliding-window counters keyed by (agency, officer) and (agency, case)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self._admissions = 0

    def admit(self, agency: str, officer: str, case_id: str, limit: RateLimit) -> Exceeded | None:
        """Counts one request against every limit set, or counts nothing and says which
        limit it would exceed."""
        checks: list[tuple[tuple[str, str, str], float, int, str]] = []
        if limit.per_officer_per_minute is not None:
            checks.append(
                (
                    ("officer", agency, officer),
                    OFFICER_WINDOW_SECONDS,
                    limit.per_officer_per_minute,
                    "per_officer_per_minute",
                )
            )
        if limit.per_case_per_hour is not None:
            checks.append(
                (
                    ("case", agency, case_id),
                    CASE_WINDOW_SECONDS,
                    limit.per_case_per_hour,
                    "per_case_per_hour",
                )
            )
        if not checks:
            return None
        with self._lock:
            now = self._clock()
            self._admissions += 1
            if self._admissions % SWEEP_EVERY == 0:
                self._sweep(now)
            for key, window, allowed, name in checks:
                history = self._windows.get(key)
                if history is None:
                    continue
                _expire(history, now - window)
                if len(history) >= allowed:
                    return Exceeded(name, allowed)
            new_keys = sum(1 for key, *_ in checks if key not in self._windows)
            if new_keys and len(self._windows) + new_keys > MAX_TRACKED_KEYS:
                self._sweep(now)
                if len(self._windows) + new_keys > MAX_TRACKED_KEYS:
                    return Exceeded("tracked_keys", MAX_TRACKED_KEYS)
            for key, *_ in checks:
                self._windows.setdefault(key, deque()).append(now)
        return None

    def tracked(self) -> int:
        with self._lock:
            return len(self._windows)

    def _sweep(self, now: float) -> None:
        for key in list(self._windows):
            window = OFFICER_WINDOW_SECONDS if key[0] == "officer" else CASE_WINDOW_SECONDS
            history = self._windows[key]
            _expire(history, now - window)
            if not history:
                del self._windows[key]


def _expire(history: deque[float], cutoff: float) -> None:
    while history and history[0] <= cutoff:
        history.popleft()
