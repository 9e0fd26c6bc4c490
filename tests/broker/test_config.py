from pathlib import Path

import pytest

from broker.config import BrokerConfig
from broker.errors import ConfigError

VALID = """
broker_id = "b1"
listen = "127.0.0.1:0"
policy_dir = "policies"
signing_key_file = "keys/k.pem"
audit_dir = "/var/audit"
matcher_address = "unix:/run/m.sock"
[[issuers]]
issuer = "https://idp"
jwks_file = "idp.json"
algorithms = ["EdDSA"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broker.toml"
    path.write_text(text)
    return path


def test_loads_file_and_resolves_relative_paths(tmp_path):
    config = BrokerConfig.load(write(tmp_path, VALID), env={})
    assert config.policy_dir == tmp_path / "policies"
    assert config.audit_dir == Path("/var/audit")
    assert config.issuers[0].jwks_file == tmp_path / "idp.json"
    assert config.issuers[0].algorithms == ("EdDSA",)
    assert config.audience == "biometric-broker"


def test_environment_then_flags_override_the_file(tmp_path):
    path = write(tmp_path, VALID)
    config = BrokerConfig.load(
        path, env={"BROKER_LISTEN": "127.0.0.1:9", "BROKER_MAX_WORKERS": "4"}
    )
    assert config.listen == "127.0.0.1:9"
    assert config.max_workers == 4
    config = BrokerConfig.load(
        path, env={"BROKER_LISTEN": "127.0.0.1:9"}, overrides={"listen": "unix:/x"}
    )
    assert config.listen == "unix:/x"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('broker_id = "b1"', ""), "missing configuration keys: ['broker_id']"),
        (("listen =", "lisen ="), "unknown configuration keys: ['lisen']"),
        (('"unix:/run/m.sock"', '"10.0.0.5:7000"'), "matcher_address"),
        (('algorithms = ["EdDSA"]', 'algorithms = ["none"]'), "issuers[0].algorithms"),
        (('algorithms = ["EdDSA"]', 'algorithms = ["HS256"]'), "issuers[0].algorithms"),
        (("[[issuers]]", "[[nothing]]"), "unknown configuration keys"),
    ],
)
def test_invalid_configurations_are_refused_before_start(tmp_path, change, message):
    old, new = change
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        BrokerConfig.load(write(tmp_path, VALID.replace(old, new)), env={})


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        BrokerConfig.load(tmp_path / "absent.toml", env={})
