"""The broker's settings: one frozen dataclass, loaded from a TOML file, then environment
variables (BROKER_<FIELD>), then command-line flags, and validated before anything starts."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields, replace
from pathlib import Path
from typing import Any

from broker.errors import ConfigError

ENV_PREFIX = "BROKER_"
# A single JWT header/claims set is tiny; a 1 MiB cap on request messages leaves room for a
# 512-float probe many times over while stopping memory-exhaustion by oversized messages.
DEFAULT_MAX_MESSAGE_BYTES = 1 << 20
SUPPORTED_ALGORITHMS = frozenset({"EdDSA", "ES256", "ES384", "RS256", "PS256"})
# Clock skew tolerated on exp/nbf/iat. Beyond five minutes a leeway stops being skew and
# starts extending every token's life.
MAX_JWT_LEEWAY_SECONDS = 300
# Addresses a plaintext listener may use: tokens must never cross a network in the clear.
LOOPBACK_PREFIXES = ("unix:", "127.0.0.1:", "localhost:", "[::1]:")


@dataclass(frozen=True)
class IssuerConfig:
    """A token issuer the broker trusts, with its public keys and allowed algorithms."""

    issuer: str
    jwks_file: Path | None
    algorithms: tuple[str, ...] = ("EdDSA", "ES256")
    # Production: the issuer's JWKS endpoint (https; http only on loopback), cached.
    jwks_url: str | None = None
    jwks_cache_seconds: int = 300


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
    # The audit log also signs a checkpoint once this long has passed with entries pending
    # (at the next commit, or by its own thread), so a quiet log is checkpointed too.
    checkpoint_interval_seconds: float = 10.0
    # TLS for the public listener; a client CA file turns on mTLS (client certificates
    # required and verified against it).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    # A plaintext listener beyond loopback must be asked for by this loud name.
    insecure_plaintext: bool = False
    # Plaintext grpc.health.v1 only (no broker service), for kubelet probes, which speak no
    # TLS. Empty: none.
    health_listen: str = ""
    # Policy (broker/policy/runtime.py). policy_backend "opa" asks the OPA server at opa_url
    # (http(s)://host:port). A decision not made within decision_timeout_seconds is denied.
    # The embedded backend evaluates in policy_workers processes. policy_dir (and
    # shadow_policy_dir, whose bundle is compared with the active one on every decision) is
    # checked for a new revision every policy_poll_seconds.
    opa_url: str = ""
    decision_timeout_seconds: float = 0.5
    policy_workers: int = 2
    policy_poll_seconds: float = 1.0
    shadow_policy_dir: Path | None = None

    def validate(self) -> BrokerConfig:
        problems: list[str] = []
        if not self.broker_id:
            problems.append("broker_id: must not be empty")
        if not self.listen:
            problems.append("listen: must not be empty")
        if self.policy_backend not in {"embedded", "opa"}:
            problems.append(f"policy_backend: unknown backend {self.policy_backend!r}")
        problems.extend(_policy_problems(self))
        if not self.matcher_address.startswith(LOOPBACK_PREFIXES):
            problems.append("matcher_address: the matcher must be on a Unix socket or loopback")
        if not self.issuers:
            problems.append("issuers: at least one trusted token issuer is required")
        for i, issuer in enumerate(self.issuers):
            unknown = set(issuer.algorithms) - SUPPORTED_ALGORITHMS
            if unknown or not issuer.algorithms:
                problems.append(f"issuers[{i}].algorithms: unsupported {sorted(unknown)}")
            problems.extend(_issuer_problems(i, issuer))
        problems.extend(_transport_problems(self))
        if not 0 <= self.jwt_leeway_seconds <= MAX_JWT_LEEWAY_SECONDS:
            problems.append(f"jwt_leeway_seconds: must be within 0..{MAX_JWT_LEEWAY_SECONDS}")
        if self.matcher_timeout_seconds <= 0:
            problems.append("matcher_timeout_seconds: must be positive")
        if self.overfetch_factor < 1:
            problems.append("overfetch_factor: must be at least 1")
        problems.extend(_audit_problems(self))
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


def _issuer_problems(i: int, issuer: IssuerConfig) -> list[str]:
    where = f"issuers[{i}]"
    if (issuer.jwks_file is None) == (issuer.jwks_url is None):
        return [f"{where}: set exactly one of jwks_file and jwks_url"]
    problems = []
    if issuer.jwks_url is not None:
        url = issuer.jwks_url
        loopback = url.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:"))
        if not (url.startswith("https://") or loopback):
            problems.append(f"{where}.jwks_url: must be https:// (http only on loopback)")
    if issuer.jwks_cache_seconds < 1:
        problems.append(f"{where}.jwks_cache_seconds: must be at least 1")
    return problems


# Beyond these the setting is a typo: a decision deadline of minutes would let one slow
# policy hold a request thread that long; more workers than this only waste memory.
MAX_DECISION_TIMEOUT_SECONDS = 30.0
MAX_POLICY_WORKERS = 64


def _policy_problems(config: BrokerConfig) -> list[str]:
    problems = []
    if config.policy_backend == "opa":
        if not config.opa_url:
            problems.append("opa_url: required when policy_backend is opa")
        else:
            from broker.policy.opa import parse_opa_url

            try:
                parse_opa_url(config.opa_url)
            except ConfigError as e:
                problems.append(str(e))
    if not 0 < config.decision_timeout_seconds <= MAX_DECISION_TIMEOUT_SECONDS:
        problems.append(
            f"decision_timeout_seconds: must be within (0, {MAX_DECISION_TIMEOUT_SECONDS}]"
        )
    if not 1 <= config.policy_workers <= MAX_POLICY_WORKERS:
        problems.append(f"policy_workers: must be within 1..{MAX_POLICY_WORKERS}")
    if not config.policy_poll_seconds > 0:
        problems.append("policy_poll_seconds: must be positive")
    if config.shadow_policy_dir is not None and config.shadow_policy_dir == config.policy_dir:
        problems.append("shadow_policy_dir: must differ from policy_dir")
    return problems


def _audit_problems(config: BrokerConfig) -> list[str]:
    problems = []
    if config.checkpoint_every < 1:
        problems.append("checkpoint_every: must be at least 1")
    if not config.checkpoint_interval_seconds > 0:
        problems.append("checkpoint_interval_seconds: must be positive")
    return problems


def _transport_problems(config: BrokerConfig) -> list[str]:
    problems = []
    if (config.tls_cert_file is None) != (config.tls_key_file is None):
        problems.append("tls_cert_file, tls_key_file: set both or neither")
    if config.tls_client_ca_file is not None and config.tls_cert_file is None:
        problems.append("tls_client_ca_file: mTLS needs tls_cert_file and tls_key_file")
    plaintext = config.tls_cert_file is None
    if (
        plaintext
        and not config.insecure_plaintext
        and not config.listen.startswith(LOOPBACK_PREFIXES)
    ):
        problems.append(
            "listen: a non-loopback address needs tls_cert_file and tls_key_file "
            "(or insecure_plaintext = true behind a proxy that terminates TLS)"
        )
    if config.health_listen == config.listen and not config.listen.endswith(":0"):
        problems.append("health_listen: must differ from listen")
    return problems


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
        issuers = tuple(_issuer(item, path) for item in raw["issuers"])
        config = BrokerConfig(
            broker_id=str(raw["broker_id"]),
            listen=str(raw["listen"]),
            policy_dir=path(raw["policy_dir"]),
            signing_key_file=path(raw["signing_key_file"]),
            audit_dir=path(raw["audit_dir"]),
            matcher_address=str(raw["matcher_address"]),
            issuers=issuers,
        )
        scalars: dict[str, Any] = {
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
                "checkpoint_interval_seconds",
                "health_listen",
                "opa_url",
                "decision_timeout_seconds",
                "policy_workers",
                "policy_poll_seconds",
            )
            if name in raw
        }
        if "shadow_policy_dir" in raw:
            scalars["shadow_policy_dir"] = path(raw["shadow_policy_dir"])
        scalars.update(
            {
                name: path(raw[name])
                for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file")
                if name in raw
            }
        )
        if "insecure_plaintext" in raw:
            scalars["insecure_plaintext"] = _boolean(raw["insecure_plaintext"])
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"invalid configuration value: {e}") from e
    return replace(config, **scalars)


_ISSUER_KEYS = frozenset({"issuer", "jwks_file", "jwks_url", "algorithms", "jwks_cache_seconds"})


def _issuer(item: Any, path: Callable[[Any], Path]) -> IssuerConfig:
    unknown = set(item) - _ISSUER_KEYS
    if unknown:
        raise ConfigError(f"unknown issuer keys: {sorted(unknown)}")
    return IssuerConfig(
        issuer=str(item["issuer"]),
        jwks_file=path(item["jwks_file"]) if "jwks_file" in item else None,
        algorithms=tuple(item.get("algorithms", IssuerConfig.algorithms)),
        jwks_url=str(item["jwks_url"]) if "jwks_url" in item else None,
        jwks_cache_seconds=int(item.get("jwks_cache_seconds", IssuerConfig.jwks_cache_seconds)),
    )


def _boolean(value: Any) -> bool:
    """TOML gives a bool; an environment variable gives text, where bool("false") is True."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "1", "yes"}:
        return True
    if text in {"false", "0", "no"}:
        return False
    raise ValueError(f"not a boolean: {value!r}")
