"""The policy settings of the broker's configuration: defaults, sources, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import BrokerConfig
from broker.errors import ConfigError
from broker.policy.runtime import PolicySettings

BASE = """
broker_id = "b1"
listen = "127.0.0.1:0"
policy_dir = "policies"
signing_key_file = "k.pem"
audit_dir = "audit"
matcher_address = "unix:/run/m.sock"
[[issuers]]
issuer = "https://idp"
jwks_file = "idp.json"
"""


def load(tmp_path: Path, extra: str = "", env: dict[str, str] | None = None) -> BrokerConfig:
    path = tmp_path / "broker.toml"
    head, issuers = BASE.split("[[issuers]]")
    path.write_text(head + extra + "\n[[issuers]]" + issuers)
    return BrokerConfig.load(path, env=env or {})


def test_defaults(tmp_path: Path) -> None:
    settings = PolicySettings.from_config(load(tmp_path))
    assert settings == PolicySettings(
        policy_dir=tmp_path / "policies",
        backend="embedded",
        opa_url="",
        shadow_policy_dir=None,
        decision_timeout=0.5,
        workers=2,
        poll_interval=1.0,
    )


def test_every_policy_setting_from_the_file(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        'policy_backend = "opa"\nopa_url = "http://127.0.0.1:8181"\n'
        'shadow_policy_dir = "candidate"\ndecision_timeout_seconds = 0.25\n'
        "policy_workers = 4\npolicy_poll_seconds = 5\n",
    )
    assert PolicySettings.from_config(config) == PolicySettings(
        policy_dir=tmp_path / "policies",
        backend="opa",
        opa_url="http://127.0.0.1:8181",
        shadow_policy_dir=tmp_path / "candidate",
        decision_timeout=0.25,
        workers=4,
        poll_interval=5.0,
    )


def test_policy_settings_from_the_environment(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        env={
            "BROKER_SHADOW_POLICY_DIR": "/etc/candidate",
            "BROKER_DECISION_TIMEOUT_SECONDS": "1.5",
            "BROKER_POLICY_WORKERS": "3",
        },
    )
    assert config.shadow_policy_dir == Path("/etc/candidate")
    assert config.decision_timeout_seconds == 1.5
    assert config.policy_workers == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('policy_backend = "opa"', "opa_url: required when policy_backend is opa"),
        ('policy_backend = "opa"\nopa_url = "127.0.0.1:8181"', "opa_url: expected http(s)"),
        ('policy_backend = "wasm"', "policy_backend: unknown backend 'wasm'"),
        ("decision_timeout_seconds = 0", "decision_timeout_seconds: must be within"),
        ("decision_timeout_seconds = 120", "decision_timeout_seconds: must be within"),
        ("policy_workers = 0", "policy_workers: must be within 1..64"),
        ("policy_poll_seconds = -1", "policy_poll_seconds: must be positive"),
        ('shadow_policy_dir = "policies"', "shadow_policy_dir: must differ from policy_dir"),
        ('policy_workers = "many"', "invalid configuration value"),
    ],
)
def test_invalid_policy_settings_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, extra)
    assert message in str(raised.value)
