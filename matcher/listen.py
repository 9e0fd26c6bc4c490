"""Which addresses the matcher may listen on: a Unix socket, or loopback TCP. Nothing else.

Only the broker beside the matcher may call it (DESIGN.md), and the matcher speaks
plaintext gRPC, so it must never be reachable from the network. `unix-abstract:` sockets
are refused too: they have no file permissions, so any local process could connect.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import ConfigError

UNIX_PREFIX = "unix:"
# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
LOOPBACK_NAMES = frozenset({"localhost"})


@dataclass(frozen=True)
class ListenAddress:
    """A validated listen address: `socket_path` for Unix sockets, else host and port."""

    text: str
    socket_path: Path | None = None
    host: str | None = None
    port: int | None = None

    def with_port(self, port: int) -> str:
        """The gRPC target once bound: TCP port 0 replaced by the port actually chosen."""
        if self.socket_path is not None:
            return self.text
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{host}:{port}"


def parse_listen_address(text: str) -> ListenAddress:
    """Parses `unix:/abs/path`, `127.0.0.1:PORT`, `[::1]:PORT` or `localhost:PORT`."""
    if text.startswith(UNIX_PREFIX):
        return _unix(text)
    host, separator, port_text = text.rpartition(":")
    if not separator or not host:
        raise ConfigError(f"listen: {text!r} is neither unix:/path nor HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not _is_loopback(host):
        raise ConfigError(
            f"listen: refusing {text!r}: the matcher listens only on a Unix socket or on "
            "loopback (127.0.0.1, ::1, localhost), never on a network interface"
        )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65_535:
        raise ConfigError(f"listen: {port_text!r} is not a TCP port (0..65535)")
    return ListenAddress(text=text, host=host, port=int(port_text))


def _unix(text: str) -> ListenAddress:
    raw = text[len(UNIX_PREFIX) :]
    if raw.startswith("//"):
        raw = raw[2:]  # unix:///abs/path is the URI form of unix:/abs/path
    path = Path(raw)
    if not raw or not path.is_absolute():
        raise ConfigError(f"listen: {text!r} must name an absolute socket path (unix:/path)")
    if "\x00" in raw or len(raw.encode()) > MAX_SOCKET_PATH_BYTES:
        raise ConfigError(
            f"listen: socket path {raw!r} is longer than {MAX_SOCKET_PATH_BYTES} bytes"
        )
    return ListenAddress(text=f"{UNIX_PREFIX}{raw}", socket_path=path)


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
