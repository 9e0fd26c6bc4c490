"""Bearer-token verification (RFC 7519 / RFC 8725 best practices) with pyjwt.

The caller's identity comes only from claims of a token whose signature verified under a key
of a configured issuer, with the algorithm allowed for that issuer. Header parameters that
point at keys (`jku`, `x5u`, `jwk`, `x5c`) are refused outright: keys come from configuration,
never from the token (a JWKS file, or the issuer's JWKS URL with caching, see jwks.py).

Checked: the signature, with the algorithm allowed for the issuer and bound to the key; `exp`,
`nbf` and `iat` with the configured leeway; `iss`; `aud` (a token for another broker carries
another audience); and the claims the policy needs (agency, officer, roles, country,
jurisdiction), each bounded like any request field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jwt

from broker.authn.jwks import FileKeySet, KeySet, UrlKeySet
from broker.authn.token_cache import VerifiedTokens
from broker.config import IssuerConfig
from broker.errors import AuthenticationError, ConfigError
from broker.models import Principal

# Header parameters by which a token names its own verification key (RFC 7515 §4.1.2-6);
# trusting any of them lets the caller choose the key that verifies it.
KEY_POINTING_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c"})
REQUIRED_STANDARD_CLAIMS = ("exp", "iat", "iss", "aud", "sub")
# A bearer token is a few hundred bytes; a hard cap stops parser abuse by huge headers.
MAX_TOKEN_LENGTH = 8192
# Explicit typing (RFC 8725 §3.11): a token typed as something else (a decision receipt, a
# DPoP proof, a logout token) is not an access token, even when its signature verifies.
ACCEPTED_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
# Claims flow into the policy input and into receipts: the same bounds as request fields.
MAX_CLAIM_LENGTH = 128
MAX_ROLES = 32
MAX_KID_LENGTH = 256


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    keys: KeySet
    algorithms: tuple[str, ...]

    @classmethod
    def from_config(cls, config: IssuerConfig) -> TrustedIssuer:
        keys: KeySet
        if config.jwks_file is not None:
            keys = FileKeySet(config.jwks_file, issuer=config.issuer)
        elif config.jwks_url is not None:
            url_keys = UrlKeySet(
                config.jwks_url, issuer=config.issuer, cache_seconds=config.jwks_cache_seconds
            )
            url_keys.prefetch()
            keys = url_keys
        else:
            raise ConfigError(f"issuer {config.issuer}: needs jwks_file or jwks_url")
        return cls(config.issuer, keys, config.algorithms)


class TokenVerifier:
    def __init__(
        self,
        issuers: Iterable[TrustedIssuer],
        *,
        audience: str,
        leeway: int,
        cache: VerifiedTokens | None = None,
    ) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._audience = audience
        self._leeway = leeway
        self._cache = cache

    def verify(self, token: str) -> Principal:
        """Returns the verified caller, or raises AuthenticationError."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthenticationError("bearer token is missing or too long")
        if self._cache is not None:
            cached = self._cache.get(token)
            if cached is not None:
                return cached
        principal, expires_at = self._verify(token)
        if self._cache is not None:
            self._cache.put(token, principal, expires_at)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        if token.count(".") != 2:
            raise AuthenticationError("malformed token: not a compact JWS (three parts)")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as e:
            raise AuthenticationError(f"malformed token: {e}") from e
        if KEY_POINTING_HEADERS & header.keys():
            raise AuthenticationError("token names its own key (jku/x5u/jwk/x5c); refused")
        if "crit" in header:
            raise AuthenticationError("token has critical header extensions; none are supported")
        typ = header.get("typ", "JWT")
        if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
            raise AuthenticationError("token type (typ) is not an access token")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise AuthenticationError("token issuer is not trusted")
        alg = header.get("alg")
        if alg not in issuer.algorithms:
            raise AuthenticationError(f"algorithm {alg!r} is not allowed for this issuer")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH:
            raise AuthenticationError("token has no usable key id (kid)")
        key = issuer.keys.key(kid)
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
                options={
                    "require": list(REQUIRED_STANDARD_CLAIMS),
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                },
            )
        except jwt.PyJWTError as e:
            raise AuthenticationError(f"token rejected: {e}") from e
        return principal_from_claims(claims), float(claims["exp"])


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    def text(name: str) -> str:
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise AuthenticationError(f"token claim {name!r} is missing or not a string")
        _bounded(value, name)
        return value

    roles = claims.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        raise AuthenticationError("token claim 'roles' is missing or not a list of strings")
    if not roles or len(roles) > MAX_ROLES:
        raise AuthenticationError(f"token claim 'roles' must hold 1..{MAX_ROLES} roles")
    for role in roles:
        _bounded(role, "roles")
    return Principal(
        agency=text("agency"),
        officer=text("sub"),
        roles=tuple(roles),
        country=text("country"),
        jurisdiction=text("jurisdiction"),
    )


def _bounded(value: str, name: str) -> None:
    if len(value) > MAX_CLAIM_LENGTH:
        raise AuthenticationError(f"token claim {name!r} is longer than {MAX_CLAIM_LENGTH}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise AuthenticationError(f"token claim {name!r} contains control characters")
