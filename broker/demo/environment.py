"""A complete local deployment in one directory: keys, token issuer, gallery, config, and the
real matcher and broker processes. The demo, the integration tests and the benchmarks use it.

    DIR/
      gallery/           the matcher's gallery (Annoy indexes, journal)
      audit/             the broker's audit log
      keys/              broker signing key, token issuer's JWKS
      broker.toml        the broker's configuration
      logs/              stdout and stderr of both processes
      run/matcher.sock   the matcher's Unix socket (mode 0600)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc

from broker.authn.dev_issuer import DevIssuer
from broker.client import BrokerClient
from broker.demo.gallery import DemoGallery, build_demo_gallery
from broker.keys import SigningKey
from broker.launch import ServerProcess, start_broker, start_matcher
from broker.models import Principal

AUDIENCE = "biometric-broker"
SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"

# The officers of the scenario, one per agency and role.
PRINCIPALS = {
    "fbi-investigator": Principal("us-fbi", "sa.morgan", ("investigator",), "US", "US"),
    "hsi-officer": Principal("us-hsi", "io.chen", ("immigration_officer",), "US", "US"),
    "riverton-detective": Principal(
        "riverton-pd", "det.alvarez", ("investigator",), "US", "US-OR-RIVERTON"
    ),
    "riverton-records": Principal(
        "riverton-pd", "clerk.okafor", ("records_officer",), "US", "US-OR-RIVERTON"
    ),
    "fusion-analyst": Principal("or-fusion", "an.berg", ("investigator",), "US", "US-OR"),
    "pdi-detective": Principal("cl-pdi", "det.rojas", ("investigator",), "CL", "CL"),
    "unknown-agency": Principal("acme-security", "guard.x", ("investigator",), "US", "US"),
}


@dataclass
class DemoEnvironment:
    workdir: Path
    issuer: DevIssuer
    gallery: DemoGallery
    matcher: ServerProcess
    broker: ServerProcess
    _channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def audit_dir(self) -> Path:
        return self.workdir / "audit"

    def token(self, who: str | Principal) -> str:
        principal = PRINCIPALS[who] if isinstance(who, str) else who
        return self.issuer.mint(principal, audience=AUDIENCE)

    def client(self, who: str | Principal) -> BrokerClient:
        channel = grpc.insecure_channel(self.broker.address)
        self._channels.append(channel)
        return BrokerClient(channel, lambda: self.token(who))

    def close(self) -> None:
        for channel in self._channels:
            channel.close()
        self.broker.stop()
        self.matcher.stop()

    def __enter__(self) -> DemoEnvironment:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_config(
    workdir: Path, *, policy_dir: Path, matcher_socket: Path, issuer: DevIssuer
) -> Path:
    keys = workdir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    SigningKey.generate().save_pem(keys / "broker-signing.pem")
    issuer.write_jwks(keys / "issuer.jwks.json")
    config = workdir / "broker.toml"
    config.write_text(
        f"""# Written by `broker demo`. Every key is documented in broker/config.py.
broker_id = "demo-broker"
listen = "127.0.0.1:0"
audience = "{AUDIENCE}"
policy_dir = "{policy_dir}"
signing_key_file = "keys/broker-signing.pem"
audit_dir = "audit"
matcher_address = "unix:{matcher_socket}"

[[issuers]]
issuer = "{issuer.issuer}"
jwks_file = "keys/issuer.jwks.json"
algorithms = ["EdDSA"]
"""
    )
    return config


def start_environment(workdir: Path, *, policy_dir: Path = SHIPPED_POLICIES) -> DemoEnvironment:
    """Builds everything in `workdir` (which must be empty or absent) and starts both servers."""
    workdir.mkdir(parents=True, exist_ok=True)
    gallery = build_demo_gallery(workdir / "gallery")
    (workdir / "run").mkdir(exist_ok=True)
    socket = workdir / "run" / "matcher.sock"
    issuer = DevIssuer.create()
    config = write_config(workdir, policy_dir=policy_dir, matcher_socket=socket, issuer=issuer)
    matcher = start_matcher(workdir / "gallery", socket, workdir / "logs" / "matcher.log")
    try:
        broker = start_broker(config, workdir / "logs" / "broker.log")
    except Exception:
        matcher.stop()
        raise
    return DemoEnvironment(workdir, issuer, gallery, matcher, broker)
