"""The matcher's settings, validated before anything is built.

Who may call the matcher (DESIGN.md: the broker alone) is decided by the listener:
- a Unix socket (the default deployment) is created mode 0600, so the kernel lets only the
  matcher's own user (which the broker runs as) connect — see matcher/server.py;
- a loopback TCP port is reachable by every local user, so it requires mutual TLS: the
  matcher's certificate and key, and a CA that signs only the broker's client certificate.
  Plaintext TCP exists for local experiments only, behind `unsafe_plaintext_tcp`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matcher.errors import ConfigError
from matcher.gallery import DEFAULT_SEARCH_K, MAX_SEARCH_K
from matcher.listen import ListenAddress, parse_listen_address
from matcher.manifest import DEFAULT_N_TREES, MAX_TREES

# Server threads; each runs one call, and Annoy queries release the GIL.
MAX_WORKERS = 256
# Pending changes (buffered adds + tombstones) beyond which a rebuild is pointless to delay.
MAX_REBUILD_THRESHOLD = 10_000_000
# Longest time a removed or expired template may stay on disk before a rebuild purges it.
MAX_PURGE_INTERVAL = 7 * 24 * 3600
# The n_trees and search_k defaults, chosen from benchmarks/matcher_scale.py (README,
# "Matcher benchmarks"), live beside their bounds in matcher/manifest.py and gallery.py.
DEFAULT_REBUILD_THRESHOLD = 5_000
DEFAULT_PURGE_INTERVAL = 3_600


@dataclass(frozen=True)
class MatcherConfig:
    """How to run one matcher.

    `rebuild_threshold`: when buffered additions plus tombstones reach it, the gallery is
    rebuilt in the background (0 turns that off; `matcher gallery rebuild` still works).
    `purge_interval`: seconds between checks that rebuild when anything is pending or
    expired at all, so an expunged or expired template leaves the disk within about this
    long even when few changes arrive (0 turns that off).
    `tls_cert`, `tls_key`, `tls_client_ca`: PEM files for mutual TLS on a TCP listener.
    """

    gallery_dir: Path
    listen: str
    n_trees: int = DEFAULT_N_TREES
    search_k: int = DEFAULT_SEARCH_K
    max_workers: int = 8
    rebuild_threshold: int = DEFAULT_REBUILD_THRESHOLD
    purge_interval: int = DEFAULT_PURGE_INTERVAL
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    unsafe_plaintext_tcp: bool = False
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
        _check_range("purge_interval", self.purge_interval, 0, MAX_PURGE_INTERVAL)
        address = parse_listen_address(self.listen)
        object.__setattr__(self, "address", address)
        self._check_authentication(address)

    def tls_files(self) -> tuple[Path, Path, Path] | None:
        """(cert, key, client CA) when the listener is mutual TLS, else None."""
        if self.tls_cert is None or self.tls_key is None or self.tls_client_ca is None:
            return None
        return self.tls_cert, self.tls_key, self.tls_client_ca

    def _check_authentication(self, address: ListenAddress) -> None:
        files = {
            "tls_cert": self.tls_cert,
            "tls_key": self.tls_key,
            "tls_client_ca": self.tls_client_ca,
        }
        for name, value in files.items():
            if value is not None and not isinstance(value, Path):
                raise ConfigError(f"{name}: expected a Path, got {value!r}")
        if not isinstance(self.unsafe_plaintext_tcp, bool):
            raise ConfigError(
                f"unsafe_plaintext_tcp: expected a boolean, got {self.unsafe_plaintext_tcp!r}"
            )
        given = [name for name, value in files.items() if value is not None]
        if address.socket_path is not None:
            if given:
                raise ConfigError(
                    f"{given[0]}: TLS is for TCP listeners; a Unix socket is authenticated "
                    "by its file permissions"
                )
            if self.unsafe_plaintext_tcp:
                raise ConfigError("unsafe_plaintext_tcp: the listener is a Unix socket")
            return
        if given and len(given) != len(files):
            missing = next(name for name in files if name not in given)
            raise ConfigError(f"{missing}: required with {', '.join(given)} (mutual TLS)")
        if given and self.unsafe_plaintext_tcp:
            raise ConfigError("unsafe_plaintext_tcp: contradicts the TLS files given")
        if not given and not self.unsafe_plaintext_tcp:
            raise ConfigError(
                "listen: a TCP listener is reachable by every local user, so it needs mutual "
                "TLS (tls_cert, tls_key, tls_client_ca); use a Unix socket otherwise"
            )


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name}: {value!r} is not an integer in {low}..{high}")
