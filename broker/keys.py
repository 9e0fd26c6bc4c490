"""Ed25519 signing keys, their public JWKs (RFC 8037) and key ids (RFC 7638 thumbprints).

One key signs receipts, audit entries and checkpoints. Its `kid` is derived from the public
key itself, so a verifier never has to trust a name someone chose: a JWK whose `kid` is not
its own thumbprint is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from broker import canonical
from broker.audit.durable import write_atomic
from broker.errors import CanonicalizationError, SigningError, VerificationError

__all__ = [
    "KeyRing",
    "SigningKey",
    "VerifyingKey",
    "b64url_decode",
    "b64url_encode",
    "jwk_thumbprint",
    "load_jwks",
    "parse_jwks",
]

ED25519_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
# A PEM Ed25519 key is about 120 bytes; anything far larger is not a key file.
MAX_KEY_FILE_BYTES = 64 * 1024
# A JWKS of Ed25519 keys is about 150 bytes per key; this allows thousands of rotations.
MAX_JWKS_FILE_BYTES = 1024 * 1024
MAX_JWKS_KEYS = 1000

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url: URL alphabet, no padding, no stray bits (one spelling per value)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise ValueError("not unpadded base64url") from e
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url (stray trailing bits)")
    return data


def jwk_thumbprint(public_raw: bytes) -> str:
    """RFC 7638 SHA-256 thumbprint of the OKP/Ed25519 JWK {crv, kty, x}, base64url."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(public_raw)}
    # RFC 7638 section 3: required members only, lexicographic order, no whitespace; for
    # these ASCII members that is exactly the RFC 8785 form.
    return b64url_encode(hashlib.sha256(canonical.dumps(members)).digest())


class VerifyingKey:
    """An Ed25519 public key and its RFC 7638 kid."""

    __slots__ = ("_key", "_kid", "_raw")

    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self._raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self._kid = jwk_thumbprint(self._raw)

    @classmethod
    def from_raw(cls, raw: bytes) -> VerifyingKey:
        """From the 32-byte RFC 8032 encoding."""
        if len(raw) != ED25519_KEY_BYTES:
            raise VerificationError(f"Ed25519 public key must be 32 bytes, not {len(raw)}")
        try:
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except ValueError as e:
            raise VerificationError(f"invalid Ed25519 public key: {e}") from e

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any]) -> VerifyingKey:
        """From a public OKP JWK; refuses other key types, private members and a wrong kid."""
        if not isinstance(jwk, Mapping):
            raise VerificationError("jwk: not a JSON object")
        if jwk.get("kty") != "OKP":
            raise VerificationError(f"jwk.kty: expected 'OKP', got {jwk.get('kty')!r}")
        if jwk.get("crv") != "Ed25519":
            raise VerificationError(f"jwk.crv: expected 'Ed25519', got {jwk.get('crv')!r}")
        if "d" in jwk:
            raise VerificationError("jwk.d: a public key set must not carry private keys")
        if "alg" in jwk and jwk["alg"] != "EdDSA":
            raise VerificationError(f"jwk.alg: expected 'EdDSA', got {jwk['alg']!r}")
        if "use" in jwk and jwk["use"] != "sig":
            raise VerificationError(f"jwk.use: expected 'sig', got {jwk['use']!r}")
        key_ops = jwk.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            raise VerificationError("jwk.key_ops: does not allow 'verify'")
        try:
            raw = b64url_decode(jwk.get("x"))  # type: ignore[arg-type]
        except ValueError as e:
            raise VerificationError(f"jwk.x: {e}") from e
        key = cls.from_raw(raw)
        if "kid" in jwk and jwk["kid"] != key.kid:
            raise VerificationError(
                f"jwk.kid: {jwk['kid']!r} is not the key's RFC 7638 thumbprint {key.kid!r}"
            )
        return key

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def raw(self) -> bytes:
        """The 32-byte public key (RFC 8032 encoding)."""
        return self._raw

    @property
    def cryptography_key(self) -> Ed25519PublicKey:
        """The `cryptography` object, for libraries such as pyjwt."""
        return self._key

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url_encode(self._raw),
            "kid": self._kid,
            "alg": "EdDSA",
            "use": "sig",
        }

    def verify(self, signature: bytes, data: bytes) -> None:
        """Returns only if `signature` is this key's Ed25519 signature of `data`."""
        if len(signature) != ED25519_SIGNATURE_BYTES:
            raise VerificationError(f"signature must be 64 bytes, not {len(signature)}")
        try:
            self._key.verify(signature, data)
        except InvalidSignature as e:
            raise VerificationError(f"bad signature for key {self._kid}") from e

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VerifyingKey) and other._raw == self._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    def __repr__(self) -> str:
        return f"VerifyingKey(kid={self._kid!r})"


class SigningKey:
    """An Ed25519 private key. Its repr never shows key material."""

    __slots__ = ("_key", "_public")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self._public = VerifyingKey(key.public_key())

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """From the 32-byte RFC 8032 private key (the JWK `d`)."""
        if len(seed) != ED25519_KEY_BYTES:
            raise SigningError(f"Ed25519 private key must be 32 bytes, not {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_private_jwk(cls, jwk: Mapping[str, Any]) -> SigningKey:
        """From an OKP JWK with `d`; its `x` must match the key `d` derives."""
        if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise SigningError("jwk: not an OKP Ed25519 key")
        try:
            key = cls.from_seed(b64url_decode(jwk.get("d")))  # type: ignore[arg-type]
        except ValueError as e:
            raise SigningError(f"jwk.d: {e}") from e
        if jwk.get("x") != b64url_encode(key.verifying_key.raw):
            raise SigningError("jwk.x: does not match the private key d")
        return key

    @classmethod
    def load_pem(cls, path: Path) -> SigningKey:
        """Reads an unencrypted PKCS#8 PEM Ed25519 key. Anything else is a SigningError."""
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                raise SigningError(f"{path}: not a regular file")
            if info.st_size > MAX_KEY_FILE_BYTES:
                raise SigningError(f"{path}: {info.st_size} bytes is too large for a key file")
            data = path.read_bytes()
        except OSError as e:
            raise SigningError(f"{path}: cannot read signing key: {e.strerror or e}") from e
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError as e:
            raise SigningError(f"{path}: the key is encrypted; an unencrypted key is needed") from e
        except (ValueError, UnsupportedAlgorithm) as e:
            raise SigningError(f"{path}: not a PEM private key") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningError(f"{path}: expected an Ed25519 key, got {type(key).__name__}")
        return cls(key)

    def save_pem(self, path: Path, *, overwrite: bool = False) -> None:
        """Writes PKCS#8 PEM, mode 0600, atomically. Never replaces a key unless asked."""
        data = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            write_atomic(path, data, mode=0o600, overwrite=overwrite)
        except FileExistsError as e:
            raise SigningError(f"{path}: exists; refusing to overwrite a signing key") from e
        except OSError as e:
            raise SigningError(f"{path}: cannot write signing key: {e.strerror or e}") from e

    @property
    def kid(self) -> str:
        return self._public.kid

    @property
    def verifying_key(self) -> VerifyingKey:
        return self._public

    @property
    def cryptography_key(self) -> Ed25519PrivateKey:
        """The `cryptography` object, for libraries such as pyjwt."""
        return self._key

    def public_jwk(self) -> dict[str, str]:
        return self._public.public_jwk()

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 (RFC 8032) signature of `data`."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r})"


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, VerifyingKey]:
    """An RFC 7517 key set → {kid: key}, in the set's order. Every key must be Ed25519."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise VerificationError("jwks: expected an object with a 'keys' array")
    entries = jwks["keys"]
    if len(entries) > MAX_JWKS_KEYS:
        raise VerificationError(f"jwks.keys: more than {MAX_JWKS_KEYS} keys")
    keys: dict[str, VerifyingKey] = {}
    for index, jwk in enumerate(entries):
        try:
            key = VerifyingKey.from_jwk(jwk)
        except VerificationError as e:
            raise VerificationError(f"jwks.keys[{index}]: {e}") from e
        if key.kid in keys:
            raise VerificationError(f"jwks.keys[{index}]: duplicate kid {key.kid}")
        keys[key.kid] = key
    return keys


def load_jwks(path: Path) -> dict[str, Any]:
    """Reads a JWKS file and checks it (parse_jwks); returns the document."""
    try:
        if path.stat().st_size > MAX_JWKS_FILE_BYTES:
            raise VerificationError(f"{path}: too large for a key set")
        data = path.read_bytes()
    except OSError as e:
        raise VerificationError(f"{path}: cannot read key set: {e.strerror or e}") from e
    try:
        doc = canonical.parse_strict(data)
    except CanonicalizationError as e:
        raise VerificationError(f"{path}: {e}") from e
    try:
        parse_jwks(doc)
    except VerificationError as e:
        raise VerificationError(f"{path}: {e}") from e
    if not isinstance(doc, dict):  # parse_jwks already refused it; this narrows the type
        raise VerificationError(f"{path}: not a key set")
    return doc


@dataclass(frozen=True)
class KeyRing:
    """The active signing key and the older public keys a verifier still needs."""

    active: SigningKey
    older: tuple[VerifyingKey, ...] = ()

    def __post_init__(self) -> None:
        kids = [self.active.kid, *(key.kid for key in self.older)]
        if len(set(kids)) != len(kids):
            raise SigningError("key ring: a key appears twice")

    def jwks(self) -> dict[str, Any]:
        """RFC 7517 key set, newest (active) key first."""
        return {"keys": [self.active.public_jwk(), *(key.public_jwk() for key in self.older)]}

    def verifying_keys(self) -> dict[str, VerifyingKey]:
        return {self.active.kid: self.active.verifying_key, **{k.kid: k for k in self.older}}

    def rotate(self, new: SigningKey) -> KeyRing:
        """A ring where `new` signs and the current key is kept for verification."""
        return KeyRing(new, _without(new.kid, (self.active.verifying_key, *self.older)))

    @classmethod
    def load(cls, jwks_path: Path, active: SigningKey) -> KeyRing:
        """The ring from a JWKS file (missing = empty), with `active` as the newest key."""
        if not jwks_path.exists():
            return cls(active)
        try:
            keys = parse_jwks(load_jwks(jwks_path))
        except VerificationError as e:
            raise SigningError(str(e)) from e
        return cls(active, _without(active.kid, keys.values()))

    def save(self, jwks_path: Path) -> None:
        """Writes the public key set atomically (mode 0644: it is public)."""
        data = json.dumps(self.jwks(), indent=2).encode() + b"\n"
        try:
            write_atomic(jwks_path, data, mode=0o644)
        except OSError as e:
            raise SigningError(f"{jwks_path}: cannot write key set: {e.strerror or e}") from e


def _without(kid: str, keys: Iterable[VerifyingKey]) -> tuple[VerifyingKey, ...]:
    return tuple(key for key in keys if key.kid != kid)
