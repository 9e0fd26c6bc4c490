"""A short-lived memory of tokens that verified, so a client reusing its token (as OAuth
clients do for the token's life) is not re-verified on every call.

Only a token that passed every check is remembered, keyed by the SHA-256 of its exact bytes,
so a cached answer is never given for a token that was not itself verified. An entry lives
until the token's `exp` (without the leeway) or MAX_AGE_SECONDS, whichever is first: a key
the issuer withdraws from its JWKS stops being honoured within that time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from broker.models import Principal

MAX_AGE_SECONDS = 60.0
# About 200 bytes per entry; bounded so a flood of distinct valid tokens cannot grow it.
MAX_ENTRIES = 10_000


class VerifiedTokens:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        key = _key(token)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            principal, until = entry
            if self._clock() >= until:
                del self._entries[key]
                return None
            return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        until = min(expires_at, self._clock() + MAX_AGE_SECONDS)
        key = _key(token)
        with self._lock:
            self._entries[key] = (principal, until)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
