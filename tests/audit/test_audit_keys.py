"""broker.keys against RFC 8037 Appendix A, plus key files and key sets."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from broker.errors import SigningError, VerificationError
from broker.keys import (
    KeyRing,
    SigningKey,
    VerifyingKey,
    b64url_decode,
    b64url_encode,
    jwk_thumbprint,
    load_jwks,
    parse_jwks,
)
from tests.audit.audit_helpers import load_vector

RFC8037 = load_vector("rfc8037.json")


def test_a1_private_key_derives_the_a2_public_key(rfc8037_key: SigningKey) -> None:
    assert b64url_encode(rfc8037_key.verifying_key.raw) == RFC8037["public_jwk"]["x"]


def test_a3_thumbprint_is_the_kid(rfc8037_key: SigningKey) -> None:
    assert rfc8037_key.kid == RFC8037["thumbprint"]
    assert b64url_decode(rfc8037_key.kid).hex() == RFC8037["thumbprint_hex"]
    assert jwk_thumbprint(rfc8037_key.verifying_key.raw) == RFC8037["thumbprint"]
    assert VerifyingKey.from_jwk(RFC8037["public_jwk"]).kid == RFC8037["thumbprint"]


def test_a4_signature_is_reproduced_byte_for_byte(rfc8037_key: SigningKey) -> None:
    assert (
        b64url_encode(json.dumps({"alg": "EdDSA"}).replace(" ", "").encode())
        == (RFC8037["protected_header"])
    )
    signing_input = f"{RFC8037['protected_header']}.{b64url_encode(RFC8037['payload'].encode())}"
    assert signing_input == RFC8037["signing_input"]
    signature = rfc8037_key.sign(signing_input.encode())
    assert b64url_encode(signature) == RFC8037["signature"]


def test_a5_verification_accepts_the_vector_and_rejects_a_changed_input() -> None:
    key = VerifyingKey.from_jwk(RFC8037["public_jwk"])
    signature = b64url_decode(RFC8037["signature"])
    key.verify(signature, RFC8037["signing_input"].encode())
    with pytest.raises(VerificationError):
        key.verify(signature, RFC8037["signing_input"].encode() + b"x")
    with pytest.raises(VerificationError):
        key.verify(signature[:-1] + bytes([signature[-1] ^ 1]), RFC8037["signing_input"].encode())


def test_public_jwk_has_exactly_the_documented_members(rfc8037_key: SigningKey) -> None:
    assert rfc8037_key.public_jwk() == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037["public_jwk"]["x"],
        "kid": RFC8037["thumbprint"],
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "d" not in rfc8037_key.public_jwk()
    assert "nWGx" not in repr(rfc8037_key)


GOOD = {"kty": "OKP", "crv": "Ed25519", "x": RFC8037["public_jwk"]["x"]}


@pytest.mark.parametrize(
    ("jwk", "needle"),
    [
        ({**GOOD, "kty": "EC"}, "jwk.kty"),
        ({**GOOD, "crv": "X25519"}, "jwk.crv"),
        ({**GOOD, "d": RFC8037["private_jwk"]["d"]}, "jwk.d"),
        ({**GOOD, "kid": "someone-else"}, "jwk.kid"),
        ({**GOOD, "alg": "ES256"}, "jwk.alg"),
        ({**GOOD, "use": "enc"}, "jwk.use"),
        ({**GOOD, "key_ops": ["sign"]}, "jwk.key_ops"),
        ({**GOOD, "x": GOOD["x"] + "="}, "jwk.x"),
        ({**GOOD, "x": GOOD["x"][:-3]}, "32 bytes"),
        ({**GOOD, "x": GOOD["x"][:-1] + "p"}, "non-canonical"),
        ({k: v for k, v in GOOD.items() if k != "x"}, "jwk.x"),
    ],
    ids=[
        "kty",
        "crv",
        "private",
        "kid",
        "alg",
        "use",
        "key_ops",
        "padded",
        "short",
        "bits",
        "no-x",
    ],
)
def test_from_jwk_refuses_anything_but_a_public_ed25519_key(
    jwk: dict[str, Any], needle: str
) -> None:
    with pytest.raises(VerificationError, match=needle):
        VerifyingKey.from_jwk(jwk)


@pytest.mark.parametrize("text", ["a", "ab=", "a+b", "a/b", "a b", "Zg=="])
def test_b64url_decode_is_strict(text: str) -> None:
    with pytest.raises(ValueError, match="base64url"):
        b64url_decode(text)


def test_pem_round_trip_is_private_and_atomic(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "signing.pem"
    key.save_pem(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SigningKey.load_pem(path).kid == key.kid
    assert [p.name for p in tmp_path.iterdir()] == ["signing.pem"]  # no temporary left


def test_save_pem_never_replaces_a_key_unless_asked(tmp_path: Path, key: SigningKey) -> None:
    path = tmp_path / "signing.pem"
    key.save_pem(path)
    other = SigningKey.generate()
    with pytest.raises(SigningError, match="refusing to overwrite"):
        other.save_pem(path)
    assert SigningKey.load_pem(path).kid == key.kid
    other.save_pem(path, overwrite=True)
    assert SigningKey.load_pem(path).kid == other.kid


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _key_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    encrypted = SigningKey.generate().cryptography_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    public = (
        SigningKey.generate()
        .cryptography_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp / "dir.pem").mkdir()
    return {
        "missing": (tmp / "missing.pem", "cannot read"),
        "directory": (tmp / "dir.pem", "not a regular file"),
        "garbage": (_write(tmp / "garbage.pem", b"not a key\n"), "not a PEM private key"),
        "empty": (_write(tmp / "empty.pem", b""), "not a PEM private key"),
        "ec-key": (_write(tmp / "ec.pem", ec_pem), "expected an Ed25519 key"),
        "encrypted": (_write(tmp / "enc.pem", encrypted), "encrypted"),
        "public-only": (_write(tmp / "pub.pem", public), "not a PEM private key"),
        "huge": (_write(tmp / "huge.pem", b"x" * (65 * 1024)), "too large"),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "directory", "garbage", "empty", "ec-key", "encrypted", "public-only", "huge"],
)
def test_load_pem_refuses_what_is_not_an_ed25519_key(tmp_path: Path, case: str) -> None:
    path, needle = _key_files(tmp_path)[case]
    with pytest.raises(SigningError, match=needle):
        SigningKey.load_pem(path)


def test_private_jwk_must_be_consistent() -> None:
    bad = {**RFC8037["private_jwk"], "x": GOOD["x"][:-1] + "A"}
    with pytest.raises(SigningError, match=r"jwk\.x"):
        SigningKey.from_private_jwk(bad)


def test_key_ring_is_newest_first_and_rotates(tmp_path: Path, key: SigningKey) -> None:
    first, second = key, SigningKey.generate()
    ring = KeyRing(first).rotate(second)
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second.kid, first.kid]
    assert set(ring.verifying_keys()) == {first.kid, second.kid}
    path = tmp_path / "keys.jwks.json"
    ring.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert list(parse_jwks(load_jwks(path))) == [second.kid, first.kid]
    # Loading with an old key active moves it to the front and keeps the rest in order.
    reloaded = KeyRing.load(path, first)
    assert [k["kid"] for k in reloaded.jwks()["keys"]] == [first.kid, second.kid]
    with pytest.raises(SigningError, match="appears twice"):
        KeyRing(first, (first.verifying_key,))


def test_key_ring_from_a_bad_file_is_a_signing_error(tmp_path: Path, key: SigningKey) -> None:
    path = _write(tmp_path / "keys.jwks.json", b'{"keys": [{"kty": "RSA"}]}')
    with pytest.raises(SigningError, match=r"keys\[0\]"):
        KeyRing.load(path, key)


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({}, "'keys' array"),
        ({"keys": {}}, "'keys' array"),
        ({"keys": [GOOD, GOOD]}, "duplicate kid"),
        ({"keys": [{**GOOD, "kty": "RSA"}]}, r"keys\[0\]"),
    ],
)
def test_parse_jwks_refuses_bad_sets(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(VerificationError, match=needle):
        parse_jwks(doc)


def test_load_jwks_refuses_duplicate_members(tmp_path: Path) -> None:
    text = '{"keys": [], "keys": [' + json.dumps(GOOD) + "]}"
    with pytest.raises(VerificationError, match="duplicate member"):
        load_jwks(_write(tmp_path / "k.json", text.encode()))


def test_signatures_depend_on_key_and_data(key: SigningKey, other_key: SigningKey) -> None:
    signature = key.sign(b"data")
    key.verifying_key.verify(signature, b"data")
    with pytest.raises(VerificationError):
        other_key.verifying_key.verify(signature, b"data")
    with pytest.raises(VerificationError, match="64 bytes"):
        key.verifying_key.verify(signature + b"\0", b"data")
    assert key.sign(b"data") == signature  # Ed25519 is deterministic
    assert key.sign(b"datb") != signature
