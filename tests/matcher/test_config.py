"""Configuration and listen addresses are validated before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from matcher.config import MatcherConfig
from matcher.errors import ConfigError
from matcher.listen import parse_listen_address


@pytest.mark.parametrize(
    ("text", "socket", "host", "port"),
    [
        ("unix:/run/matcher/matcher.sock", "/run/matcher/matcher.sock", None, None),
        ("unix:///run/matcher.sock", "/run/matcher.sock", None, None),
        ("127.0.0.1:0", None, "127.0.0.1", 0),
        ("127.8.9.10:50052", None, "127.8.9.10", 50052),
        ("[::1]:50052", None, "::1", 50052),
        ("localhost:65535", None, "localhost", 65535),
        ("LOCALHOST:1", None, "LOCALHOST", 1),
    ],
)
def test_accepted_addresses(
    text: str, socket: str | None, host: str | None, port: int | None
) -> None:
    address = parse_listen_address(text)
    assert address.socket_path == (Path(socket) if socket else None)
    assert (address.host, address.port) == (host, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.0.0.0:50051", "refusing"),
        ("[::]:50051", "refusing"),
        ("10.1.2.3:50051", "refusing"),
        ("192.168.0.10:1", "refusing"),
        ("matcher.internal:50051", "refusing"),
        ("localhost.evil.example:1", "refusing"),
        (":50051", "neither"),
        ("127.0.0.1", "neither"),
        ("127.0.0.1:99999", "not a TCP port"),
        ("127.0.0.1:-1", "not a TCP port"),
        ("127.0.0.1:http", "not a TCP port"),
        ("unix:relative.sock", "absolute"),
        ("unix:", "absolute"),
        ("unix-abstract:matcher", "refusing"),
        ("unix:/" + "x" * 120, "longer than 107 bytes"),
    ],
)
def test_refused_addresses(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_listen_address(text)
    assert str(caught.value).startswith("listen: ")


def test_config_defaults_and_parsed_address(tmp_path: Path) -> None:
    config = MatcherConfig(gallery_dir=tmp_path, listen="unix:/run/m.sock")
    assert (config.n_trees, config.search_k, config.max_workers) == (40, 50_000, 8)
    assert config.purge_interval == 3_600
    assert config.rebuild_threshold == 5_000
    assert config.address.socket_path == Path("/run/m.sock")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"listen": "0.0.0.0:1"}, "listen"),
        ({"listen": None}, "listen"),
        ({"gallery_dir": "/not/a/path/object"}, "gallery_dir"),
        ({"n_trees": 0}, "n_trees"),
        ({"n_trees": 1001}, "n_trees"),
        ({"search_k": 0}, "search_k"),
        ({"search_k": True}, "search_k"),
        ({"max_workers": 0}, "max_workers"),
        ({"rebuild_threshold": -1}, "rebuild_threshold"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, overrides: dict[str, Any], field: str) -> None:
    values: dict[str, Any] = {"gallery_dir": tmp_path, "listen": "127.0.0.1:0"}
    values.update(overrides)
    with pytest.raises(ConfigError) as caught:
        MatcherConfig(**values)
    assert str(caught.value).startswith(f"{field}: ")
