"""Offline verification of an audit log directory: every byte, every link, every signature.

It recomputes each entry's hash, checks seq continuity and the prev chain, each entry's
signature (by the key the log had most recently announced with a "key" entry), the receipt
inside each decision entry (whose `log` claim must be the entry's own seq and prev), and a
checkpoint: its signature, and that the log still holds a tree of that size with that root.
The first problem found is raised as a VerificationError naming the entry.

Trust: with no `jwks`, the directory's own key set is used, which proves internal consistency
only; an auditor passes a key set (and a checkpoint) obtained independently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, parse_and_verify_checkpoint
from broker.audit.entry import GENESIS_PREV, MAX_LINE_BYTES, SignedEntry
from broker.audit.layout import LogLayout, read_lines
from broker.errors import VerificationError
from broker.keys import VerifyingKey, load_jwks, parse_jwks
from broker.receipts import ReceiptVerifier

__all__ = ["VerificationResult", "verify_log"]


@dataclass(frozen=True)
class VerificationResult:
    size: int  # number of entries
    root_hex: str  # Merkle root over all entries
    head_hex: str  # hash of the last entry (64 zeros for an empty log)
    origin: str | None
    checkpoint_size: int | None  # None when no checkpoint was checked
    signers: tuple[str, ...]  # kids that signed entries, in order of appearance


@dataclass
class _State:
    keys: dict[str, VerifyingKey]
    receipts: ReceiptVerifier
    origin: str | None
    signer: str | None = None
    head: str = GENESIS_PREV


def verify_log(
    directory: Path,
    *,
    jwks: Mapping[str, Any] | None = None,
    checkpoint: str | None = None,
    origin: str | None = None,
) -> VerificationResult:
    """Verifies the log in `directory`; raises VerificationError at the first bad entry.

    `checkpoint` (a signed note) defaults to the directory's `checkpoint` file, if any;
    `origin` defaults to the one the log's first key entry declares."""
    layout = LogLayout(Path(directory))
    if not layout.directory.is_dir():
        raise VerificationError(f"{layout.directory}: not a directory")
    if not layout.log.exists():
        raise VerificationError(f"{layout.log}: no log file")
    if jwks is None:
        jwks = load_jwks(layout.jwks)
    state = _State(keys=parse_jwks(jwks), receipts=ReceiptVerifier(jwks), origin=origin)

    tree = merkle.MerkleAccumulator()
    roots_by_size: dict[int, bytes] = {0: merkle.EMPTY_ROOT}
    cp_text = _checkpoint_text(layout, checkpoint)
    wanted_size = _claimed_size(cp_text)
    signers: list[str] = []
    try:
        for index, line in _lines(layout):
            signed = _parse(index, line)
            _check_entry(index, signed, state)
            if signed.kid not in signers:
                signers.append(signed.kid)
            leaf = signed.entry.hash()
            tree.append(leaf)
            state.head = leaf.hex()
            if tree.size == wanted_size:
                roots_by_size[tree.size] = tree.root()
    except OSError as e:
        raise VerificationError(f"{layout.log}: unreadable: {e}") from e

    checkpoint_size = None
    if cp_text is not None:
        checked = _check_checkpoint(cp_text, state, tree.size, roots_by_size)
        checkpoint_size = checked.size
    return VerificationResult(
        size=tree.size,
        root_hex=tree.root().hex(),
        head_hex=state.head,
        origin=state.origin,
        checkpoint_size=checkpoint_size,
        signers=tuple(signers),
    )


def _lines(layout: LogLayout) -> Iterator[tuple[int, bytes]]:
    for raw in read_lines(layout.log):
        if not raw.complete:
            if len(raw.data) > MAX_LINE_BYTES:
                raise VerificationError(f"entry {raw.index}: longer than {MAX_LINE_BYTES} bytes")
            raise VerificationError(
                f"entry {raw.index}: incomplete last line (a torn write; opening the log "
                "for writing cuts it off and records a recovery entry)"
            )
        yield raw.index, raw.data


def _parse(index: int, line: bytes) -> SignedEntry:
    try:
        return SignedEntry.parse_line(line)
    except VerificationError as e:
        raise VerificationError(f"entry {index}: {e}") from e


def _check_entry(index: int, signed: SignedEntry, state: _State) -> None:
    entry = signed.entry
    if entry.seq != index:
        raise VerificationError(
            f"entry {index}: has seq {entry.seq} (entries missing, duplicated or reordered)"
        )
    key = state.keys.get(signed.kid)
    if key is None:
        raise VerificationError(f"entry {index}: signed by unknown key {signed.kid}")
    if entry.kind == "key":
        _check_key_entry(index, signed, key, state)
    elif index == 0:
        raise VerificationError("entry 0: a log must start with a key entry")
    elif signed.kid != state.signer:
        raise VerificationError(
            f"entry {index}: signed by {signed.kid}, but the log's active key is {state.signer}"
        )
    try:
        signed.verify(key)
    except VerificationError as e:
        raise VerificationError(f"entry {index}: signature does not verify ({e})") from e
    if entry.prev != state.head:
        raise VerificationError(f"entry {index}: prev does not match hash of entry {index - 1}")
    if entry.kind == "decision":
        _check_receipt(index, signed, state)


def _check_key_entry(index: int, signed: SignedEntry, key: VerifyingKey, state: _State) -> None:
    """A key entry announces the key that signs it, for the log named `origin`."""
    body = signed.entry.body
    if body.get("kid") != signed.kid:
        raise VerificationError(f"entry {index}: key entry not signed by the key it announces")
    try:
        announced = VerifyingKey.from_jwk(body.get("jwk"))  # type: ignore[arg-type]
    except VerificationError as e:
        raise VerificationError(f"entry {index}: key entry jwk: {e}") from e
    if announced != key:
        raise VerificationError(f"entry {index}: announced key differs from the key set's")
    origin = body.get("origin")
    if not isinstance(origin, str):
        raise VerificationError(f"entry {index}: key entry has no origin")
    if state.origin is None:
        state.origin = origin
    elif origin != state.origin:
        raise VerificationError(f"entry {index}: origin {origin!r} is not {state.origin!r}")
    state.signer = signed.kid


def _check_receipt(index: int, signed: SignedEntry, state: _State) -> None:
    receipt = signed.entry.body.get("receipt")
    if not isinstance(receipt, str):
        raise VerificationError(f"entry {index}: decision entry has no receipt")
    try:
        claims = state.receipts.verify(receipt)
    except VerificationError as e:
        raise VerificationError(f"entry {index}: {e}") from e
    expected = {"seq": signed.entry.seq, "prev": signed.entry.prev}
    if claims.get("log") != expected:
        raise VerificationError(
            f"entry {index}: receipt log claim {claims.get('log')} is not this entry's {expected}"
        )


def _checkpoint_text(layout: LogLayout, given: str | None) -> str | None:
    if given is not None:
        return given
    try:
        return layout.checkpoint.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise VerificationError(f"{layout.checkpoint}: unreadable: {e}") from e


def _claimed_size(text: str | None) -> int | None:
    """The size a checkpoint claims, read before its signature is checked, only to know
    which intermediate root to remember; the claim is verified afterwards."""
    if text is None:
        return None
    body, _, _ = text.partition("\n\n")
    try:
        return Checkpoint.from_body(body + "\n").size
    except VerificationError:
        return None


def _check_checkpoint(text: str, state: _State, size: int, roots: dict[int, bytes]) -> Checkpoint:
    origin = state.origin or _claimed_origin(text)
    try:
        checkpoint = parse_and_verify_checkpoint(text, list(state.keys.values()), origin)
    except VerificationError as e:
        raise VerificationError(f"checkpoint: {e}") from e
    if checkpoint.size > size:
        raise VerificationError(
            f"entry {size}: missing; the checkpoint covers {checkpoint.size} entries but the "
            f"log holds {size} (truncated)"
        )
    if roots.get(checkpoint.size) != checkpoint.root:
        raise VerificationError(
            f"checkpoint: the log's first {checkpoint.size} entries do not hash to its root "
            "(rewritten)"
        )
    return checkpoint


def _claimed_origin(text: str) -> str:
    return text.split("\n", 1)[0]
