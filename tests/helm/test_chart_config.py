"""The broker's config.toml as the chart renders it, read by the broker's own config loader, and
every file it names followed to the volume that provides it in the broker container."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.config import BrokerConfig
from tests.helm.chart_rendering import FULLNAME, ISSUER, Manifests, Render

CONFIG_PATH = "/etc/biometric-broker/config.toml"


def load_config(rendered: Manifests, tmp_path: Path) -> BrokerConfig:
    path = tmp_path / "config.toml"
    path.write_text(rendered.read_file("broker", CONFIG_PATH))
    return BrokerConfig.load(path, env={})


def test_config_is_what_the_broker_expects(rendered: Manifests) -> None:
    config = tomllib.loads(rendered.read_file("broker", CONFIG_PATH))
    assert config == {
        "broker_id": FULLNAME,
        "listen": "0.0.0.0:50051",
        "tls_cert_file": "/etc/biometric-broker/tls/tls.crt",
        "tls_key_file": "/etc/biometric-broker/tls/tls.key",
        "health_listen": "0.0.0.0:8086",
        "audience": "biometric-broker",
        "policy_dir": "/etc/biometric-broker/policies",
        "policy_backend": "embedded",
        "signing_key_file": "/etc/biometric-broker/signing/signing-key.pem",
        "audit_dir": "/var/lib/biometric-broker/audit",
        "matcher_address": "unix:/run/matcher/matcher.sock",
        "matcher_timeout_seconds": 2.0,
        "issuers": [
            {
                "issuer": ISSUER,
                "jwks_file": "/etc/biometric-broker/issuers/0.jwks.json",
                "algorithms": ["EdDSA", "ES256"],
            }
        ],
    }
    assert isinstance(config["matcher_timeout_seconds"], float)


def test_the_broker_config_loader_accepts_it(rendered: Manifests, tmp_path: Path) -> None:
    config = load_config(rendered, tmp_path)
    assert config.broker_id == FULLNAME
    assert config.policy_dir == Path("/etc/biometric-broker/policies")
    assert [i.issuer for i in config.issuers] == [ISSUER]


def test_issuer_jwks_reaches_the_broker_unchanged(
    rendered: Manifests, issuer_jwks: dict[str, Any], tmp_path: Path
) -> None:
    (issuer,) = load_config(rendered, tmp_path).issuers
    # Given as JSON text, the JWKS is carried byte for byte.
    assert rendered.read_file("broker", str(issuer.jwks_file)) == json.dumps(issuer_jwks)


def test_signing_key_reaches_the_broker_unchanged(
    rendered: Manifests, signing_key_pem: str, tmp_path: Path
) -> None:
    path = str(load_config(rendered, tmp_path).signing_key_file)
    pem = rendered.read_file("broker", path)
    assert pem == signing_key_pem
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    secret_volume = rendered.volume("signing-key")["secret"]
    assert secret_volume["defaultMode"] == 0o440  # owner root, group fsGroup; nobody else


def test_directories_are_mounted_where_the_config_says(rendered: Manifests) -> None:
    config = tomllib.loads(rendered.read_file("broker", CONFIG_PATH))
    mounts = rendered.mounts("broker")
    assert mounts[config["policy_dir"]]["readOnly"] is True
    assert mounts[config["policy_dir"]]["name"] == "policies"
    assert not mounts[config["audit_dir"]].get("readOnly", False)
    assert "persistentVolumeClaim" in rendered.volume(mounts[config["audit_dir"]]["name"])


def test_configuration_mounts_are_read_only(rendered: Manifests) -> None:
    for path in (
        CONFIG_PATH,
        "/etc/biometric-broker/policies",
        "/etc/biometric-broker/signing",
        "/etc/biometric-broker/issuers",
    ):
        assert rendered.mounts("broker")[path]["readOnly"] is True, path


def test_strings_are_escaped_for_toml(render: Render, minimal_values: dict[str, Any]) -> None:
    tricky = 'aud "quoted" \\ back <tag> & é\u2028'
    minimal_values["broker"]["audience"] = tricky
    minimal_values["broker"]["id"] = "broker-eu-1"
    config = tomllib.loads(render(minimal_values).config_toml())
    assert config["audience"] == tricky
    assert config["broker_id"] == "broker-eu-1"


def test_integral_timeout_is_still_a_toml_float(
    render: Render, minimal_values: dict[str, Any]
) -> None:
    minimal_values["broker"]["matcherTimeoutSeconds"] = 5
    config = tomllib.loads(render(minimal_values).config_toml())
    assert config["matcher_timeout_seconds"] == 5.0
    assert isinstance(config["matcher_timeout_seconds"], float)


def test_config_change_rolls_the_pod(render: Render, minimal_values: dict[str, Any]) -> None:
    before = render(minimal_values).deployment["spec"]["template"]["metadata"]["annotations"]
    minimal_values["broker"]["audience"] = "another-audience"
    after = render(minimal_values).deployment["spec"]["template"]["metadata"]["annotations"]
    assert before["checksum/config"] != after["checksum/config"]
    assert before["checksum/policies"] == after["checksum/policies"]
