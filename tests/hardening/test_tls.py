"""Transport: `broker certs dev`, a broker serving TLS and mTLS to real gRPC clients, the
plaintext health port for kubelet probes, certificate reloading, and the settings that are
refused before anything starts."""

from __future__ import annotations

import ipaddress
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from broker import tls_dev
from broker.cli.main import main as broker_cli
from broker.config import BrokerConfig
from broker.errors import ConfigError
from broker.tls import RELOAD_CHECK_SECONDS, CertificateReloader, TlsFiles, load_material
from tests.hardening.harness import bearer, broker_config, identify_request, mint, running_broker


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("certs")
    assert broker_cli(["certs", "dev", "--out", str(out)]) == 0
    return out


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certs_dev_writes_a_ca_a_server_and_a_client_pair(certs: Path) -> None:
    assert sorted(p.name for p in certs.iterdir()) == sorted(tls_dev.FILE_NAMES)
    for name in ("ca-key.pem", "server-key.pem", "client-key.pem"):
        assert stat.S_IMODE((certs / name).stat().st_mode) == 0o600, name
    ca = load(certs / "ca.pem")
    store = verification.Store([ca])
    now = datetime.now(UTC)
    for name in ("localhost", "127.0.0.1", "::1"):
        subject: verification.DNSName | verification.IPAddress = (
            verification.IPAddress(ipaddress.ip_address(name))
            if name[0].isdigit() or ":" in name
            else verification.DNSName(name)
        )
        server_verifier = (
            verification.PolicyBuilder().store(store).time(now).build_server_verifier(subject)
        )
        server_verifier.verify(load(certs / "server.pem"), [])
    client = (
        verification.PolicyBuilder()
        .store(store)
        .time(now)
        .build_client_verifier()
        .verify(load(certs / "client.pem"), [])
    )
    assert client.chain[0] == load(certs / "client.pem")
    usage = load(certs / "client.pem").extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(usage.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0


def test_certs_dev_never_overwrites_without_force(certs: Path, capsys) -> None:
    before = {p.name: p.read_bytes() for p in certs.iterdir()}
    assert broker_cli(["certs", "dev", "--out", str(certs)]) == 2
    assert "already exist (use --force)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in certs.iterdir()} == before


def test_certs_dev_refuses_a_bad_validity(tmp_path: Path, capsys) -> None:
    assert broker_cli(["certs", "dev", "--out", str(tmp_path), "--days", "0"]) == 2
    assert "days: must be within 1..397" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def tls_overrides(certs: Path, *, mutual: bool) -> dict[str, str]:
    overrides = {
        "tls_cert_file": str(certs / "server.pem"),
        "tls_key_file": str(certs / "server-key.pem"),
    }
    if mutual:
        overrides["tls_client_ca_file"] = str(certs / "ca.pem")
    return overrides


def credentials(certs: Path, *, client: bool) -> grpc.ChannelCredentials:
    root = (certs / "ca.pem").read_bytes()
    if not client:
        return grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.ssl_channel_credentials(
        root_certificates=root,
        private_key=(certs / "client-key.pem").read_bytes(),
        certificate_chain=(certs / "client.pem").read_bytes(),
    )


def identify_over(channel: grpc.Channel, gallery) -> object:
    from biometric.broker.v1 import broker_pb2_grpc

    stub = broker_pb2_grpc.BiometricBrokerStub(channel)
    request = identify_request(gallery.probe("us-fbi", 12, "face"))
    return stub.Identify(request, metadata=bearer(mint()), timeout=10)


def test_the_broker_serves_tls_and_refuses_plaintext(certs, matcher, gallery, tmp_path) -> None:
    config = broker_config(tmp_path / "b", matcher.address, **tls_overrides(certs, mutual=False))
    with running_broker(config) as broker:
        target = f"localhost:{broker.running.port}"
        with grpc.secure_channel(target, credentials(certs, client=False)) as channel:
            assert identify_over(channel, gallery).decision_receipt.jws
        with grpc.insecure_channel(broker.address) as channel, pytest.raises(grpc.RpcError) as e:
            identify_over(channel, gallery)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mtls_requires_a_client_certificate_from_the_configured_ca(
    certs, matcher, gallery, tmp_path
) -> None:
    stranger = tls_dev.create(client_name="not-ours")
    strangers = stranger.write(tmp_path / "stranger")
    config = broker_config(tmp_path / "b", matcher.address, **tls_overrides(certs, mutual=True))
    with running_broker(config) as broker:
        target = f"localhost:{broker.running.port}"
        with grpc.secure_channel(target, credentials(certs, client=True)) as channel:
            assert identify_over(channel, gallery).decision_receipt.jws
        refused = {
            "no client certificate": credentials(certs, client=False),
            "a client certificate from another CA": grpc.ssl_channel_credentials(
                root_certificates=(certs / "ca.pem").read_bytes(),
                private_key=strangers["client-key.pem"].read_bytes(),
                certificate_chain=strangers["client.pem"].read_bytes(),
            ),
        }
        for why, creds in refused.items():
            with grpc.secure_channel(target, creds) as channel, pytest.raises(grpc.RpcError) as e:
                identify_over(channel, gallery)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE, why


def test_the_health_port_is_plaintext_and_serves_health_alone(certs, matcher, tmp_path) -> None:
    config = broker_config(
        tmp_path / "b",
        matcher.address,
        health_listen="127.0.0.1:0",
        **tls_overrides(certs, mutual=True),
    )
    with running_broker(config) as broker:
        assert broker.running.health_server is not None
        with grpc.insecure_channel(f"127.0.0.1:{broker.running.health_port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="biometric.broker.v1.BiometricBroker"),
                timeout=5,
            )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as e:
                identify_over(channel, _NoGallery())
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


class _NoGallery:
    def probe(self, *_args: object) -> list[float]:
        return [1.0] * 512


def test_a_key_that_does_not_match_the_certificate_stops_the_start(certs, tmp_path) -> None:
    other = tls_dev.create().write(tmp_path / "other")
    files = TlsFiles(certs / "server.pem", other["server-key.pem"])
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        load_material(files)
    with pytest.raises(ConfigError, match=r"tls_cert_file: .* not a PEM certificate"):
        load_material(TlsFiles(certs / "server-key.pem", certs / "server-key.pem"))
    with pytest.raises(ConfigError, match="tls_key_file: cannot read"):
        load_material(TlsFiles(certs / "server.pem", tmp_path / "missing.pem"))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rotated_certificates_are_picked_up_and_broken_ones_are_not(tmp_path) -> None:
    first = tls_dev.create().write(tmp_path / "live")
    files = TlsFiles(first["server.pem"], first["server-key.pem"])
    clock = Clock()
    reloader = CertificateReloader(files, load_material(files), clock=clock)
    original = reloader.material
    assert reloader.fetch() is None  # checked too recently
    clock.now += RELOAD_CHECK_SECONDS
    assert reloader.fetch() is None  # unchanged files

    renewed = tls_dev.create().write(tmp_path / "renewed")
    for name in ("server.pem", "server-key.pem"):
        os.replace(renewed[name], first[name])
    clock.now += RELOAD_CHECK_SECONDS
    assert reloader.fetch() is not None
    assert reloader.material.cert_chain == first["server.pem"].read_bytes()
    assert reloader.material != original

    # A half-finished rotation (new certificate, old key) keeps the last good pair.
    tls_dev.create().write(tmp_path / "half", overwrite=False)
    os.replace(tmp_path / "half" / "server.pem", first["server.pem"])
    clock.now += RELOAD_CHECK_SECONDS
    good = reloader.material
    assert reloader.fetch() is None
    assert reloader.material == good


BASE = {
    "broker_id": "b",
    "policy_dir": "p",
    "signing_key_file": "k.pem",
    "audit_dir": "a",
    "matcher_address": "unix:/run/m.sock",
    "issuers": [{"issuer": "https://idp", "jwks_file": "a.json"}],
}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"listen": "0.0.0.0:50051"}, "listen: a non-loopback address needs tls_cert_file"),
        (
            {"listen": "127.0.0.1:0", "tls_cert_file": "s.pem"},
            "tls_cert_file, tls_key_file: set both or neither",
        ),
        (
            {"listen": "127.0.0.1:0", "tls_client_ca_file": "ca.pem"},
            "tls_client_ca_file: mTLS needs tls_cert_file",
        ),
        (
            {"listen": "127.0.0.1:1", "health_listen": "127.0.0.1:1"},
            "health_listen: must differ from listen",
        ),
        (
            {"listen": "127.0.0.1:1", "matcher_address": "10.0.0.7:5000"},
            "matcher_address: the matcher must be on a Unix socket or loopback",
        ),
        ({"listen": "0.0.0.0:1", "insecure_plaintext": "maybe"}, "not a boolean"),
    ],
)
def test_unsafe_transport_settings_are_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        BrokerConfig.load(None, env={}, overrides={**BASE, **overrides})
    assert message in str(refused.value)


def test_plaintext_beyond_loopback_must_be_asked_for_by_its_loud_name() -> None:
    config = BrokerConfig.load(
        None,
        env={"BROKER_INSECURE_PLAINTEXT": "true"},
        overrides={**BASE, "listen": "0.0.0.0:50051"},
    )
    assert config.insecure_plaintext is True
    with pytest.raises(ConfigError, match="non-loopback"):
        BrokerConfig.load(
            None,
            env={"BROKER_INSECURE_PLAINTEXT": "false"},
            overrides={**BASE, "listen": "0.0.0.0:50051"},
        )
