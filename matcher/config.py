"""The matcher's settings, validated before anything is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matcher.errors import ConfigError
from matcher.gallery import MAX_SEARCH_K
from matcher.listen import ListenAddress, parse_listen_address
from matcher.manifest import MAX_TREES

# Server threads; each runs one call, and Annoy queries release the GIL.
MAX_WORKERS = 256
# Pending changes (buffered adds + tombstones) beyond which a rebuild is pointless to delay.
MAX_REBUILD_THRESHOLD = 10_000_000


@dataclass(frozen=True)
class MatcherConfig:
    """How to run one matcher.

    `rebuild_threshold`: when buffered additions plus tombstones reach it, the gallery is
    rebuilt in the background (0 turns that off; `matcher gallery rebuild` still works).
    """

    gallery_dir: Path
    listen: str
    n_trees: int = 10
    search_k: int = 10_000
    max_workers: int = 8
    rebuild_threshold: int = 5_000
    address: ListenAddress = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.gallery_dir, Path):
            raise ConfigError(f"gallery_dir: expected a Path, got {self.gallery_dir!r}")
        if not isinstance(self.listen, str):
            raise ConfigError(f"listen: expected a string, got {self.listen!r}")
        _check_range("n_trees", self.n_trees, 1, MAX_TREES)
        _check_range("search_k", self.search_k, 1, MAX_SEARCH_K)
        _check_range("max_workers", self.max_workers, 1, MAX_WORKERS)
        _check_range("rebuild_threshold", self.rebuild_threshold, 0, MAX_REBUILD_THRESHOLD)
        object.__setattr__(self, "address", parse_listen_address(self.listen))


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name}: {value!r} is not an integer in {low}..{high}")
