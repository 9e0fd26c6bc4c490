"""A throwaway token issuer for the demo and the tests: an Ed25519 key that mints agency JWTs.

Production tokens come from the agencies' identity providers; this only stands in for one.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from broker.models import Principal


@dataclass(frozen=True)
class DevIssuer:
    issuer: str
    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def create(cls, issuer: str = "https://idp.demo.invalid") -> DevIssuer:
        return cls(issuer, Ed25519PrivateKey.generate(), kid=uuid.uuid4().hex[:16])

    def jwks(self) -> dict[str, object]:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, alg="EdDSA", use="sig")
        return {"keys": [jwk]}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks(), indent=2))
        return path

    def mint(self, principal: Principal, *, audience: str, ttl_seconds: int = 300) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": principal.officer,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "agency": principal.agency,
            "roles": list(principal.roles),
            "country": principal.country,
            "jurisdiction": principal.jurisdiction,
        }
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})
