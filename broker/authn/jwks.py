"""An issuer's public keys: a JWKS from a file (read once) or from a URL (fetched and cached).

Keys come from configuration only, never from a token. A JWKS that carries private or
symmetric key material is refused whole: an issuer publishing it is compromised, and a
symmetric key would let anyone holding the JWKS mint tokens.

The URL source is built to fail closed and to resist abuse:
- the cache is refreshed every `cache_seconds`; an unknown `kid` triggers a refresh at most
  once per MIN_REFRESH_SECONDS, so a caller spraying random kids cannot make the broker
  hammer the identity provider;
- when a refresh fails, the last good keys serve for at most MAX_STALE_SECONDS, then none
  (every token is refused) until the provider answers again;
- redirects are not followed, responses are capped at MAX_JWKS_BYTES, fetches time out.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import jwt

from broker.errors import ConfigError

log = logging.getLogger(__name__)

# A JWKS holds a handful of keys; a megabyte-sized one is not a key set.
MAX_JWKS_BYTES = 256 * 1024
MAX_JWKS_KEYS = 64
# Parameters only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4).
PRIVATE_PARAMETERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
FETCH_TIMEOUT_SECONDS = 5.0
MIN_REFRESH_SECONDS = 30.0
MAX_STALE_SECONDS = 3600.0


class KeySet(Protocol):
    """Looks up an issuer's verification key by `kid`; None when there is no such key."""

    def key(self, kid: str) -> jwt.PyJWK | None: ...


class JwksError(Exception):
    """A JWKS document cannot be used (malformed, private material, too big)."""


def parse_jwks(document: bytes | str) -> dict[str, jwt.PyJWK]:
    """kid -> key for every public signing key. Keys meant for encryption (`use: enc`) and
    key types this broker cannot verify with are skipped; anything unsafe is an error."""
    raw = document.encode() if isinstance(document, str) else document
    if len(raw) > MAX_JWKS_BYTES:
        raise JwksError(f"larger than {MAX_JWKS_BYTES} bytes")
    try:
        parsed: Any = json.loads(raw)
    except ValueError as e:
        raise JwksError(f"not JSON: {e}") from e
    items = parsed.get("keys") if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        raise JwksError('not a JWKS (a JSON object with a "keys" array)')
    if len(items) > MAX_JWKS_KEYS:
        raise JwksError(f"more than {MAX_JWKS_KEYS} keys")
    keys: dict[str, jwt.PyJWK] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise JwksError(f"keys[{i}]: not a JSON object")
        private = PRIVATE_PARAMETERS & item.keys()
        if private or item.get("kty") == "oct":
            raise JwksError(f"keys[{i}]: private or symmetric key material ({sorted(private)})")
        kid = item.get("kid")
        if not isinstance(kid, str) or not kid or item.get("use", "sig") != "sig":
            continue  # a key without a kid can never be selected; enc keys never verify
        if kid in keys:
            raise JwksError(f"keys[{i}]: kid {kid!r} appears twice")
        try:
            keys[kid] = jwt.PyJWK(item)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as e:
            log.warning("JWKS keys[%d] (kid %r) skipped: %s", i, kid, e)
    if not keys:
        raise JwksError("no usable public signing key with a kid")
    return keys


class FileKeySet:
    """A JWKS read once from a file; a bad file stops the broker from starting."""

    def __init__(self, path: Path, *, issuer: str) -> None:
        try:
            with path.open("rb") as stream:
                document = stream.read(MAX_JWKS_BYTES + 1)
            self._keys = parse_jwks(document)
        except (OSError, JwksError) as e:
            raise ConfigError(f"issuer {issuer}: cannot load {path}: {e}") from e

    def key(self, kid: str) -> jwt.PyJWK | None:
        return self._keys.get(kid)


Fetch = Callable[[str, float], bytes]


class UrlKeySet:
    """A JWKS fetched from the issuer's endpoint and cached (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        issuer: str,
        cache_seconds: float,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._issuer = issuer
        self._cache_seconds = min(cache_seconds, MAX_STALE_SECONDS)
        self._fetch = fetch or fetch_jwks
        self._clock = clock
        self._keys: Mapping[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how many times the endpoint was asked (for tests and metrics)

    def prefetch(self) -> None:
        """Tries one fetch now, so the first caller does not wait; a failure is only logged."""
        with self._lock:
            self._refresh(self._clock())

    def key(self, kid: str) -> jwt.PyJWK | None:
        now = self._clock()
        keys = self._keys
        if keys is None or now - self._fetched_at >= self._cache_seconds:
            keys = self._refresh_if_due(now, expired=True)
        found = keys.get(kid) if keys is not None else None
        if found is None:
            # A rotation may have published a new key: refresh, but not on every unknown kid.
            keys = self._refresh_if_due(now, expired=False)
            found = keys.get(kid) if keys is not None else None
        return found

    def _refresh_if_due(self, now: float, *, expired: bool) -> Mapping[str, jwt.PyJWK] | None:
        with self._lock:
            fresh = self._keys is not None and now - self._fetched_at < self._cache_seconds
            recently = (
                self._attempted_at is not None and now - self._attempted_at < MIN_REFRESH_SECONDS
            )
            if (expired and fresh) or recently:
                return self._usable(now)
            self._refresh(now)
            return self._usable(now)

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        self.fetches += 1
        try:
            keys = parse_jwks(self._fetch(self._url, FETCH_TIMEOUT_SECONDS))
        except (JwksError, OSError) as e:
            log.warning("issuer %s: JWKS fetch from %s failed: %s", self._issuer, self._url, e)
            return
        self._keys = keys
        self._fetched_at = now

    def _usable(self, now: float) -> Mapping[str, jwt.PyJWK] | None:
        if self._keys is not None and now - self._fetched_at > MAX_STALE_SECONDS:
            log.error(
                "issuer %s: JWKS older than %ds and the endpoint fails; refusing its tokens",
                self._issuer,
                MAX_STALE_SECONDS,
            )
            return None
        return self._keys


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx then surfaces as an HTTPError: keys come from the configured URL


def fetch_jwks(url: str, timeout: float) -> bytes:
    """GETs a JWKS: status 200, at most MAX_JWKS_BYTES, no redirects. Raises OSError."""
    opener = urllib.request.build_opener(_NoRedirect())
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise OSError(f"HTTP {response.status}")
            body: bytes = response.read(MAX_JWKS_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise OSError(f"HTTP {e.code}") from e
    except urllib.error.URLError as e:
        raise OSError(str(e.reason)) from e
    if len(body) > MAX_JWKS_BYTES:
        raise OSError(f"response larger than {MAX_JWKS_BYTES} bytes")
    return body
