"""The matcher accepts calls from the broker alone (issue 5, item 5).

Unix socket: the kernel refuses `connect` from any other user (mode 0600, owner checked);
shown with a real client process running as `nobody`. TCP: mutual TLS, only a client
certificate from the configured CA gets through; plaintext TCP only when asked for loudly.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc

from matcher.cli import main
from matcher.config import MatcherConfig
from matcher.errors import ConfigError
from matcher.server import serve
from tests.matcher.certs import Authority, Issued

NOBODY = 65534
SYSTEM_PYTHON = Path("/usr/bin/python3")  # readable by every user, unlike a venv under /root
CONNECT = """
import socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    client.connect(sys.argv[1])
except PermissionError:
    print("refused")
else:
    print("connected")
"""


def _connect_as(uid: int, socket_path: Path) -> str:
    completed = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", CONNECT, str(socket_path)],
        user=uid,
        group=uid,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return completed.stdout.strip()


@pytest.fixture
def public_directory() -> Iterator[Path]:
    """A directory every user may traverse (pytest's own temporary root is 0700)."""
    directory = Path(tempfile.mkdtemp(prefix="matcher-auth-", dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()


@pytest.mark.skipif(
    os.geteuid() != 0 or not SYSTEM_PYTHON.exists(),
    reason="needs root to start a client process as another user",
)
def test_a_process_of_another_user_cannot_connect_to_the_socket(
    tmp_path: Path, public_directory: Path
) -> None:
    socket_path = public_directory / "matcher.sock"
    running = serve(MatcherConfig(gallery_dir=tmp_path / "g", listen=f"unix:{socket_path}"))
    try:
        assert _connect_as(NOBODY, socket_path) == "refused"
        # The control: the same client connects once the mode would allow it, so the
        # refusal above is the socket's permission and nothing else.
        socket_path.chmod(0o666)
        assert _connect_as(NOBODY, socket_path) == "connected"
        socket_path.chmod(0o600)
        assert _connect_as(NOBODY, socket_path) == "refused"
        with grpc.insecure_channel(running.address) as channel:  # the matcher's own user
            matcher_pb2_grpc.MatcherStub(channel).ListPartitions(
                matcher_pb2.ListPartitionsRequest(), timeout=10
            )
    finally:
        running.stop(grace=None)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | Issued]:
    directory = tmp_path_factory.mktemp("pki")
    servers = Authority.create(directory, "matcher-ca")
    brokers = Authority.create(directory, "broker-ca")
    rogue = Authority.create(directory, "rogue-ca")
    return {
        "server_ca": servers.cert,
        "client_ca": brokers.cert,
        "server": servers.issue(directory, "matcher", server=True),
        "broker": brokers.issue(directory, "broker", server=False),
        "rogue": rogue.issue(directory, "intruder", server=False),
        "other_server": servers.issue(directory, "other", server=True),
    }


def _issued(pki: dict[str, Path | Issued], name: str) -> Issued:
    issued = pki[name]
    assert isinstance(issued, Issued)
    return issued


def _path(pki: dict[str, Path | Issued], name: str) -> Path:
    path = pki[name]
    assert isinstance(path, Path)
    return path


def _call(address: str, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    channel = (
        grpc.insecure_channel(address)
        if credentials is None
        else grpc.secure_channel(address, credentials)
    )
    with channel:
        try:
            matcher_pb2_grpc.MatcherStub(channel).ListPartitions(
                matcher_pb2.ListPartitionsRequest(), timeout=10
            )
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
    return grpc.StatusCode.OK


def test_tcp_with_mutual_tls_accepts_only_the_brokers_certificate(
    tmp_path: Path, pki: dict[str, Path | Issued], capsys: pytest.CaptureFixture[str]
) -> None:
    server, broker, rogue = _issued(pki, "server"), _issued(pki, "broker"), _issued(pki, "rogue")
    running = serve(
        MatcherConfig(
            gallery_dir=tmp_path / "g",
            listen="127.0.0.1:0",
            tls_cert=server.cert,
            tls_key=server.key,
            tls_client_ca=_path(pki, "client_ca"),
        )
    )
    server_ca = _path(pki, "server_ca").read_bytes()
    try:
        broker_credentials = grpc.ssl_channel_credentials(
            server_ca, broker.key.read_bytes(), broker.cert.read_bytes()
        )
        assert _call(running.address, broker_credentials) == grpc.StatusCode.OK
        unavailable = grpc.StatusCode.UNAVAILABLE
        assert _call(running.address, grpc.ssl_channel_credentials(server_ca)) == unavailable
        rogue_credentials = grpc.ssl_channel_credentials(
            server_ca, rogue.key.read_bytes(), rogue.cert.read_bytes()
        )
        assert _call(running.address, rogue_credentials) == unavailable
        assert _call(running.address, None) == unavailable  # plaintext
        health = ["health", "--address", running.address, "--timeout", "5"]
        tls = ["--tls-ca", str(_path(pki, "server_ca"))]
        tls += ["--tls-cert", str(broker.cert), "--tls-key", str(broker.key)]
        assert main([*health, *tls]) == 0
        assert capsys.readouterr().out == "SERVING\n"
        assert main(health) == 1
    finally:
        running.stop(grace=None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({}, "listen: a TCP listener is reachable by every local user"),
        ({"tls_cert": "server.cert"}, "tls_key: required with tls_cert"),
        ({"tls_cert": "server.cert", "tls_key": "server.key"}, "tls_client_ca: required"),
        (
            {"tls_cert": "server.cert", "tls_key": "server.key", "tls_client_ca": "client_ca"},
            None,
        ),
        (
            {"tls_cert": "server.cert", "tls_key": "server.key", "tls_client_ca": "client_ca"}
            | {"unsafe_plaintext_tcp": True},
            "unsafe_plaintext_tcp: contradicts",
        ),
        ({"unsafe_plaintext_tcp": True}, None),
        ({"unsafe_plaintext_tcp": "yes"}, "unsafe_plaintext_tcp: expected a boolean"),
        ({"listen": "unix:/run/m.sock", "tls_cert": "server.cert"}, "tls_cert: TLS is for TCP"),
        ({"listen": "unix:/run/m.sock", "unsafe_plaintext_tcp": True}, "unsafe_plaintext_tcp: "),
    ],
)
def test_tcp_needs_mutual_tls_or_the_unsafe_flag(
    tmp_path: Path,
    pki: dict[str, Path | Issued],
    overrides: dict[str, object],
    message: str | None,
) -> None:
    files = {
        "server.cert": _issued(pki, "server").cert,
        "server.key": _issued(pki, "server").key,
        "client_ca": _path(pki, "client_ca"),
    }
    values: dict[str, Any] = {"gallery_dir": tmp_path, "listen": "127.0.0.1:0"}
    for name, value in overrides.items():
        values[name] = files[value] if isinstance(value, str) and value in files else value
    if message is None:
        MatcherConfig(**values)
        return
    with pytest.raises(ConfigError) as caught:
        MatcherConfig(**values)
    assert str(caught.value).startswith(message)


def test_bad_tls_files_are_refused_naming_the_field_before_anything_starts(
    tmp_path: Path, pki: dict[str, Path | Issued]
) -> None:
    server, other = _issued(pki, "server"), _issued(pki, "other_server")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    cases = [
        ({"tls_cert": tmp_path / "missing.pem"}, "tls_cert: cannot read"),
        ({"tls_cert": garbage}, "tls_cert: "),
        ({"tls_key": garbage}, "tls_key: "),
        ({"tls_key": other.key}, "tls_key: "),  # a valid key, but not the certificate's
        ({"tls_client_ca": garbage}, "tls_client_ca: "),
    ]
    for overrides, message in cases:
        values: dict[str, Any] = {
            "gallery_dir": tmp_path / "g",
            "listen": "127.0.0.1:0",
            "tls_cert": server.cert,
            "tls_key": server.key,
            "tls_client_ca": _path(pki, "client_ca"),
        }
        values.update(overrides)
        with pytest.raises(ConfigError) as caught:
            serve(MatcherConfig(**values))
        assert str(caught.value).startswith(message), caught.value
        assert not (tmp_path / "g").exists()  # refused before the gallery was created
