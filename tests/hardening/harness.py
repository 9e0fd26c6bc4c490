"""A real broker for the hardening tests: started in this process with `broker.server.start`
(real gRPC server on a loopback port, embedded OPA, audit log with fsync), in front of a real
matcher process over the demo gallery, trusting the issuer of the attack vectors.

In-process so the tests can hand it in-memory telemetry exporters; everything on the wire
is the same as `broker serve`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
import numpy as np
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker import server
from broker.config import BrokerConfig
from broker.keys import SigningKey
from broker.telemetry import Telemetry

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "vectors"
ATTACKS = VECTORS / "jwt_attacks"
POLICY = HERE / "policy"
ISSUER = "https://idp.hardening.test"
AUDIENCE = "broker.hardening.test"
KID = "idp-2026-01"

PROBE_DIMENSION = 512


def issuer_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(
        (VECTORS / "issuer-key.pem").read_bytes(), password=None
    )
    assert isinstance(key, Ed25519PrivateKey)
    return key


def mint(**changes: Any) -> str:
    """A fresh, valid token of the test issuer for test-agency's officer, with `changes`."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "officer.one",
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "agency": "test-agency",
        "roles": ["investigator"],
        "country": "US",
        "jurisdiction": "US",
    }
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, issuer_key(), algorithm="EdDSA", headers={"kid": KID})


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def justification(case_id: str = "CASE-1", purpose: str = "criminal_investigation") -> Any:
    return broker_pb2.Justification(
        purpose=purpose,
        legal_basis=broker_pb2.LegalBasis(type="warrant", reference="W-1"),
        case_id=case_id,
    )


def identify_request(probe: np.ndarray, **changes: Any) -> broker_pb2.IdentifyRequest:
    fields: dict[str, Any] = {
        "justification": justification(),
        "modality": broker_pb2.MODALITY_FACE,
        "probe": np.asarray(probe, dtype=np.float32).tolist(),
        "max_results": 5,
    }
    fields.update(changes)
    return broker_pb2.IdentifyRequest(**fields)


@dataclass
class Broker:
    running: server.RunningBroker
    address: str
    config: BrokerConfig
    workdir: Path

    @property
    def audit_dir(self) -> Path:
        return self.config.audit_dir

    def channel(self) -> grpc.Channel:
        return grpc.insecure_channel(self.address)

    def stub(self, channel: grpc.Channel) -> broker_pb2_grpc.BiometricBrokerStub:
        return broker_pb2_grpc.BiometricBrokerStub(channel)


def write_policy(directory: Path, rate_limits: Mapping[str, int] | None = None) -> Path:
    """The test policy, with its rate limits replaced when given."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("broker.rego", "rate_limits.schema.json"):
        (directory / name).write_text((POLICY / name).read_text())
    limits = dict(rate_limits) if rate_limits is not None else None
    text = json.dumps(limits) if limits else (POLICY / "rate_limits.json").read_text()
    (directory / "rate_limits.json").write_text(text)
    return directory


def broker_config(workdir: Path, matcher_address: str, **overrides: Any) -> BrokerConfig:
    workdir.mkdir(parents=True, exist_ok=True)
    key_file = workdir / "signing.pem"
    if not key_file.exists():
        SigningKey.generate().save_pem(key_file)
    raw: dict[str, Any] = {
        "broker_id": "broker.hardening.test",
        "listen": "127.0.0.1:0",
        "audience": AUDIENCE,
        "policy_dir": str(write_policy(workdir / "policy")),
        "signing_key_file": str(key_file),
        "audit_dir": str(workdir / "audit"),
        "matcher_address": matcher_address,
        "issuers": [
            {
                "issuer": ISSUER,
                "jwks_file": str(VECTORS / "issuer.jwks.json"),
                "algorithms": ["EdDSA", "ES256"],
            }
        ],
    }
    raw.update(overrides)
    return BrokerConfig.load(None, env={}, overrides=raw)


@contextmanager
def running_broker(config: BrokerConfig, *, telemetry: Telemetry | None = None) -> Iterator[Broker]:
    running = server.start(config, telemetry=telemetry or Telemetry.disabled())
    try:
        host = config.listen.rsplit(":", 1)[0]
        yield Broker(running, f"{host}:{running.port}", config, config.audit_dir.parent)
    finally:
        running.stop(grace=1.0)
