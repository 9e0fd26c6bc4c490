"""C2SP signed notes (against Go's reference vectors) and tlog checkpoints."""

from __future__ import annotations

import base64

import pytest

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, parse_and_verify_checkpoint, sign_checkpoint
from broker.audit.note import NoteVerifier, key_id, open_note, parse_note, sign_note
from broker.errors import VerificationError
from broker.keys import SigningKey, VerifyingKey
from tests.audit.audit_helpers import VECTORS, load_vector

GO = load_vector("signed_note_go.json")


def _go_key(encoded: str) -> tuple[str, bytes, bytes]:
    """Go's 'name+hexid+base64(0x01 || key)' → (name, key id, 32 key bytes)."""
    name, hex_id, blob = encoded.split("+", 2)
    raw = base64.b64decode(blob)
    assert raw[0] == 1  # Ed25519
    return name, bytes.fromhex(hex_id), raw[1:]


PETER_NAME, PETER_ID, PETER_PUBLIC = _go_key(GO["peter_vkey"])
ENOCH_NAME, ENOCH_ID, ENOCH_PUBLIC = _go_key(GO["enoch_vkey"])
PETER_SEED = _go_key(GO["peter_skey"].removeprefix("PRIVATE+KEY+"))[2]
PETER = NoteVerifier(PETER_NAME, VerifyingKey.from_raw(PETER_PUBLIC))
ENOCH = NoteVerifier(ENOCH_NAME, VerifyingKey.from_raw(ENOCH_PUBLIC))
NOTE = GO["text"] + "\n" + GO["peter_sig"]


def test_key_ids_match_the_reference() -> None:
    assert key_id(PETER_NAME, PETER_PUBLIC) == PETER_ID == bytes.fromhex("c74f20a3")
    assert key_id(ENOCH_NAME, ENOCH_PUBLIC) == ENOCH_ID


def test_signing_reproduces_the_reference_note_byte_for_byte() -> None:
    key = SigningKey.from_seed(PETER_SEED)
    assert key.verifying_key.raw == PETER_PUBLIC
    assert sign_note(GO["text"], PETER_NAME, key) == NOTE


def test_open_verifies_known_keys_and_ignores_unknown_ones() -> None:
    note = GO["text"] + "\n" + GO["peter_sig"] + GO["enoch_sig"]
    opened = open_note(note, [PETER])
    assert opened.text == GO["text"]
    assert [s.name for s in opened.signatures] == [PETER_NAME]
    both = open_note(note, [PETER, ENOCH])
    assert [s.name for s in both.signatures] == [PETER_NAME, ENOCH_NAME]
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        open_note(note, [])
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        open_note(GO["text"] + "\n" + GO["enoch_sig"], [PETER])


def test_a_failing_signature_from_a_known_key_rejects_the_note() -> None:
    sig = GO["peter_sig"]
    broken = GO["text"] + "\n" + sig[:60] + "ABCD" + sig[60:]
    with pytest.raises(VerificationError):
        open_note(broken, [PETER])
    with pytest.raises(VerificationError, match="invalid signature"):
        open_note(NOTE.replace("cryptography", "cryptographY"), [PETER])
    # A same-name key with another key ID is unknown, not a failure.
    impostor = NoteVerifier(PETER_NAME, SigningKey.generate().verifying_key)
    with pytest.raises(VerificationError, match="no signature from a trusted key"):
        open_note(NOTE, [impostor])


BAD_MESSAGES = {  # Go's TestOpen badMsgs, plus limits
    "text-only": GO["text"],
    "no-signatures": GO["text"] + "\n",
    "unterminated-signature": GO["text"] + "\n" + GO["peter_sig"][:-1],
    "control-char": "\x01" + NOTE,
    "space-in-name": GO["text"] + "\n" + GO["peter_sig"].replace("PeterNeumann", "Bad Name")[:-1],
    "trailing-line": NOTE + "Unexpected line.\n",
    "101-signatures": GO["text"] + "\n" + GO["peter_sig"] * 101,
    "no-em-dash": GO["text"] + "\n" + GO["peter_sig"].replace("\u2014", "-"),
    "plus-in-name": GO["text"] + "\n" + GO["peter_sig"].replace("PeterNeumann", "Peter+N"),
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
def test_malformed_notes_are_rejected(case: str) -> None:
    with pytest.raises(VerificationError):
        open_note(BAD_MESSAGES[case], [PETER])


def test_parse_keeps_syntax_apart_from_trust() -> None:
    note = parse_note(NOTE)
    assert note.text == GO["text"]
    assert note.signatures[0].key_id == PETER_ID
    assert len(note.signatures[0].signature) == 64


def test_c2sp_example_checkpoint_parses_but_is_not_trusted_without_its_key() -> None:
    text = (VECTORS / "tlog_checkpoint_c2sp.txt").read_text(encoding="utf-8")
    note = parse_note(text)
    checkpoint = Checkpoint.from_body(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert (
        base64.b64encode(checkpoint.root).decode() == "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
    )
    assert checkpoint.body() == note.text
    with pytest.raises(VerificationError, match="trusted key"):
        parse_and_verify_checkpoint(text, SigningKey.generate().verifying_key, checkpoint.origin)


def test_checkpoint_round_trip(key: SigningKey, other_key: SigningKey) -> None:
    checkpoint = Checkpoint("broker.test/log", 8, merkle.EMPTY_ROOT)
    text = sign_checkpoint(checkpoint, key)
    assert text.startswith(
        f"broker.test/log\n8\n{base64.b64encode(merkle.EMPTY_ROOT).decode()}\n\n"
    )
    assert text.split("\n")[4].startswith("\u2014 broker.test/log ")
    assert parse_and_verify_checkpoint(text, key.verifying_key, "broker.test/log") == checkpoint
    assert (
        parse_and_verify_checkpoint(
            text, [other_key.verifying_key, key.verifying_key], "broker.test/log"
        )
        == checkpoint
    )
    with pytest.raises(VerificationError, match="trusted key"):
        parse_and_verify_checkpoint(text, other_key.verifying_key, "broker.test/log")
    with pytest.raises(VerificationError):
        parse_and_verify_checkpoint(
            text.replace("\n8\n", "\n9\n"), key.verifying_key, "broker.test/log"
        )


def test_checkpoint_for_another_log_is_refused(key: SigningKey) -> None:
    text = sign_checkpoint(Checkpoint("broker.test/a", 1, merkle.EMPTY_ROOT), key)
    with pytest.raises(VerificationError):
        parse_and_verify_checkpoint(text, key.verifying_key, "broker.test/b")
    # Signed under the expected name but describing another origin: still refused.
    forged = sign_checkpoint(
        Checkpoint("broker.test/a", 1, merkle.EMPTY_ROOT), key, key_name="broker.test/b"
    )
    with pytest.raises(VerificationError, match="origin"):
        parse_and_verify_checkpoint(forged, key.verifying_key, "broker.test/b")


ROOT64 = base64.b64encode(merkle.EMPTY_ROOT).decode()


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (f"o.test\n007\n{ROOT64}\n", "decimal"),
        (f"o.test\n-1\n{ROOT64}\n", "decimal"),
        (f"o.test\n1\n{ROOT64[:-4]}\n", "32 bytes"),
        ("o.test\n1\n!!!!\n", "base64"),
        (f"o.test\n1\n{ROOT64}\n\n", "extension"),
        ("o.test\n1\n", "needs"),
        (f"{{json}}\n1\n{ROOT64}\n", "not a log name"),
    ],
)
def test_checkpoint_bodies_are_strict(body: str, needle: str) -> None:
    with pytest.raises(VerificationError, match=needle):
        Checkpoint.from_body(body)


def test_checkpoint_extension_lines_are_signed_and_kept(key: SigningKey) -> None:
    checkpoint = Checkpoint("o.test", 3, merkle.EMPTY_ROOT, ("ext-1",))
    opened = parse_and_verify_checkpoint(
        sign_checkpoint(checkpoint, key), key.verifying_key, "o.test"
    )
    assert opened.extensions == ("ext-1",)


def test_sign_note_refuses_bad_input(key: SigningKey) -> None:
    bad: list[tuple[str, str]] = [
        ("no newline", "name"),
        ("ok\n", "bad name"),
        ("ok\n", "a+b"),
        ("\n", "n"),
    ]
    for text, name in bad:
        with pytest.raises(VerificationError):
            sign_note(text, name, key)
