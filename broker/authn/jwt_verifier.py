"""Bearer-token verification (RFC 7519 / RFC 8725 best practices) with pyjwt.

The caller's identity comes only from claims of a token whose signature verified under a key
of a configured issuer, with the algorithm allowed for that issuer. Header parameters that
point at keys (`jku`, `x5u`, `jwk`, `x5c`) are refused outright: keys come from configuration,
never from the token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from broker.config import IssuerConfig
from broker.errors import AuthenticationError, ConfigError
from broker.models import Principal

# Header parameters by which a token names its own verification key (RFC 7515 §4.1.2-6);
# trusting any of them lets the caller choose the key that verifies it.
KEY_POINTING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
REQUIRED_STANDARD_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
# A bearer token is a few hundred bytes; a hard cap stops parser abuse by huge headers.
MAX_TOKEN_LENGTH = 8192


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    keys: dict[str, jwt.PyJWK]
    algorithms: tuple[str, ...]

    @classmethod
    def from_config(cls, config: IssuerConfig) -> TrustedIssuer:
        try:
            document = json.loads(config.jwks_file.read_text())
            jwk_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.PyJWKSetError) as e:
            raise ConfigError(f"issuer {config.issuer}: cannot load {config.jwks_file}: {e}") from e
        keys = {k.key_id: k for k in jwk_set.keys if k.key_id}
        if not keys:
            raise ConfigError(f"issuer {config.issuer}: {config.jwks_file} has no keys with a kid")
        return cls(config.issuer, keys, config.algorithms)


class TokenVerifier:
    def __init__(self, issuers: Iterable[TrustedIssuer], *, audience: str, leeway: int) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._audience = audience
        self._leeway = leeway

    def verify(self, token: str) -> Principal:
        """Returns the verified caller, or raises AuthenticationError."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("bearer token is missing or too long")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise AuthenticationError(f"malformed token: {e}") from e
        if KEY_POINTING_HEADERS & header.keys():
            raise AuthenticationError("token names its own key (jku/x5u/jwk/x5c); refused")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise AuthenticationError("token issuer is not trusted")
        alg = header.get("alg")
        if alg not in issuer.algorithms:
            raise AuthenticationError(f"algorithm {alg!r} is not allowed for this issuer")
        key = issuer.keys.get(str(header.get("kid")))
        if key is None:
            raise AuthenticationError("token key id is unknown for this issuer")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self._audience,
                issuer=issuer.issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_STANDARD_CLAIMS)},
            )
        except jwt.PyJWTError as e:
            raise AuthenticationError(f"token rejected: {e}") from e
        return principal_from_claims(claims)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    def text(name: str) -> str:
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise AuthenticationError(f"token claim {name!r} is missing or not a string")
        return value

    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise AuthenticationError("token claim 'roles' is missing or not a list of strings")
    return Principal(
        agency=text("agency"),
        officer=text("sub"),
        roles=tuple(roles),
        country=text("country"),
        jurisdiction=text("jurisdiction"),
    )
