"""The policy layer's counters, behind the smallest interface an OpenTelemetry Counter meets.

`PolicyMetrics.in_memory()` counts in process (tests, and a broker without telemetry); an
OpenTelemetry `Counter` (`meter.create_counter(...)`) can be passed for any of them as is.
Attributes are fixed vocabularies (outcomes, document names, backend names), never
personal data.
"""

from __future__ import annotations

import threading
from collections import Counter as Tally
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class Counter(Protocol):
    """What the policy layer calls; opentelemetry.metrics.Counter has this method."""

    def add(self, amount: int, attributes: Mapping[str, str] | None = None) -> None: ...


class MemoryCounter:
    """A thread-safe in-process counter, by attribute set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Tally[tuple[tuple[str, str], ...]] = Tally()

    def add(self, amount: int, attributes: Mapping[str, str] | None = None) -> None:
        key = tuple(sorted((attributes or {}).items()))
        with self._lock:
            self._counts[key] += amount

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def count(self, **attributes: str) -> int:
        """The sum over every attribute set that includes `attributes`."""
        wanted = set(attributes.items())
        with self._lock:
            return sum(n for key, n in self._counts.items() if wanted <= set(key))


@dataclass(frozen=True)
class PolicyMetrics:
    """decision_timeouts: evaluations abandoned at the deadline ({document, backend}).
    shadow_divergences: decisions where the candidate bundle disagreed ({kind}).
    shadow_evaluations: decisions the candidate bundle was compared on ({outcome}).
    bundle_loads: bundles loaded or refused ({event, role})."""

    decision_timeouts: Counter = field(default_factory=MemoryCounter)
    shadow_divergences: Counter = field(default_factory=MemoryCounter)
    shadow_evaluations: Counter = field(default_factory=MemoryCounter)
    bundle_loads: Counter = field(default_factory=MemoryCounter)

    @classmethod
    def in_memory(cls) -> PolicyMetrics:
        return cls()
