"""The broker's settings: one frozen dataclass, loaded from a TOML file, then environment
variables (BROKER_<FIELD>), then command-line flags, and validated before anything starts."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any

from broker.errors import ConfigError

ENV_PREFIX = "BROKER_"
# A single JWT header/claims set is tiny; a 1 MiB cap on request messages leaves room for a
# 512-float probe many times over while stopping memory-exhaustion by oversized messages.
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
SUPPORTED_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES384", "RS256", "PS256"})


@dataclass(frozen=True)
class IssuerConfig:
    """A token issuer the broker trusts, with its public keys and allowed algorithms."""

    issuer: str
    jwks_file: Path
    algorithms: tuple[str, ...] = ("EdDSA", "ES256")


@dataclass(frozen=True)
class BrokerConfig:
    broker_id: str
    listen: str
    policy_dir: Path
    signing_key_file: Path
    audit_dir: Path
    matcher_address: str
    issuers: tuple[IssuerConfig, ...]
    audience: str = "biometric-broker"
    policy_backend: str = "embedded"
    matcher_timeout_seconds: float = 2.0
    jwt_leeway_seconds: int = 30
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_workers: int = 16
    # How many candidates to ask the matcher for per released candidate wanted: the release
    # rule may withhold some, and the caller should still get max_results when it can.
    overfetch_factor: int = 3
    checkpoint_every: int = 256

    def validate(self) -> BrokerConfig:
        problems: list[str] = []
        if not self.broker_id:
            problems.append("broker_id: must not be empty")
        if not self.listen:
            problems.append("listen: must not be empty")
        if self.policy_backend not in {"embedded"}:
            problems.append(f"policy_backend: unknown backend {self.policy_backend!r}")
        if not self.matcher_address.startswith(("unix:", "127.0.0.1:", "localhost:", "[::1]:")):
            problems.append("matcher_address: the matcher must be on a Unix socket or loopback")
        if not self.issuers:
            problems.append("issuers: at least one trusted token issuer is required")
        for i, issuer in enumerate(self.issuers):
            unknown = set(issuer.algorithms) - SUPPORTED_ALGORITHMS
            if unknown or not issuer.algorithms:
                problems.append(f"issuers[{i}].algorithms: unsupported {sorted(unknown)}")
        if self.matcher_timeout_seconds <= 0:
            problems.append("matcher_timeout_seconds: must be positive")
        if self.overfetch_factor < 1:
            problems.append("overfetch_factor: must be at least 1")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return self

    @classmethod
    def load(
        cls,
        path: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> BrokerConfig:
        """File, then environment, then explicit overrides; later sources win."""
        raw: dict[str, Any] = {}
        if path is not None:
            try:
                raw = tomllib.loads(path.read_text())
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise ConfigError(f"cannot read config {path}: {e}") from e
        raw.update(_from_env(os.environ if env is None else env))
        raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return _build(raw, base_dir=path.parent if path else Path.cwd()).validate()


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    scalar = {f.name for f in fields(BrokerConfig) if f.name != "issuers"}
    return {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in scalar
    }


def _build(raw: dict[str, Any], *, base_dir: Path) -> BrokerConfig:
    known = {f.name: f for f in fields(BrokerConfig)}
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(f"unknown configuration keys: {sorted(unknown)}")
    missing = [
        name
        for name, f in known.items()
        if name not in raw and f.default is MISSING and f.default_factory is MISSING
    ]
    if missing:
        raise ConfigError(f"missing configuration keys: {sorted(missing)}")

    def path(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else base_dir / p

    try:
        issuers = tuple(
            IssuerConfig(
                issuer=str(item["issuer"]),
                jwks_file=path(item["jwks_file"]),
                algorithms=tuple(item.get("algorithms", IssuerConfig.algorithms)),
            )
            for item in raw["issuers"]
        )
        config = BrokerConfig(
            broker_id=str(raw["broker_id"]),
            listen=str(raw["listen"]),
            policy_dir=path(raw["policy_dir"]),
            signing_key_file=path(raw["signing_key_file"]),
            audit_dir=path(raw["audit_dir"]),
            matcher_address=str(raw["matcher_address"]),
            issuers=issuers,
        )
        scalars = {
            name: type(getattr(config, name))(raw[name])
            for name in (
                "audience",
                "policy_backend",
                "matcher_timeout_seconds",
                "jwt_leeway_seconds",
                "max_message_bytes",
                "max_workers",
                "overfetch_factor",
                "checkpoint_every",
            )
            if name in raw
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"invalid configuration value: {e}") from e
    return replace(config, **scalars)
