"""Offline verification of an audit log directory: every byte, every link, every signature.

It recomputes each entry's hash, checks seq continuity and the prev chain, each entry's
signature (by the key the log had most recently announced with a "key" entry), each key
change (announced by the new key, endorsed by the key it replaces, never bringing back a
retired key), the receipt inside each decision entry (signed by the entry's own signer, its
`log` claim the entry's own seq and prev), and checkpoints: the directory's own and any held
from earlier, each signed by the key active at its size and matching the log's prefix of that
size. A held checkpoint the log no longer matches proves a fork (history rewritten after it
was signed) or a truncation. The first problem found is raised as a VerificationError naming
the entry or the checkpoint.

Trust: with no `jwks`, the directory's own key set is used, which proves internal consistency
only, so every key change must then be endorsed by the previous key (a chain from the first
key). An auditor passes a key set (and checkpoints) obtained independently; a key it lists
needs no endorsement (that is how a log recovers from a lost key).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.audit import merkle
from broker.audit.checkpoint import Checkpoint, parse_and_verify_checkpoint
from broker.audit.entry import GENESIS_PREV, MAX_LINE_BYTES, SignedEntry
from broker.audit.keychange import KeyAnnouncement
from broker.audit.layout import LogLayout, read_lines
from broker.errors import VerificationError
from broker.keys import VerifyingKey, load_jwks, parse_jwks
from broker.receipts import ReceiptVerifier, receipt_kid

__all__ = ["VerificationResult", "verify_log"]


@dataclass(frozen=True)
class VerificationResult:
    size: int  # number of entries
    root_hex: str  # Merkle root over all entries
    head_hex: str  # hash of the last entry (64 zeros for an empty log)
    origin: str | None
    checkpoint_size: int | None  # the directory's checkpoint; None when it has none
    signers: tuple[str, ...]  # kids that announced themselves, in order; the last is active
    held_checkpoints: tuple[int, ...] = ()  # sizes of the checkpoints held from earlier
    unendorsed_key_changes: tuple[int, ...] = ()  # seqs; only with an independent key set
    recoveries: tuple[int, ...] = ()  # seqs of entries recording a torn-write repair

    @property
    def active_kid(self) -> str | None:
        return self.signers[-1] if self.signers else None


@dataclass
class _State:
    keys: dict[str, VerifyingKey]
    receipts: ReceiptVerifier
    origin: str | None
    independent_keys: bool
    signer: str | None = None
    head: str = GENESIS_PREV
    announced: dict[str, int] = field(default_factory=dict)  # kid -> seq of its key entry
    unendorsed: list[int] = field(default_factory=list)
    recoveries: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Claim:
    """A checkpoint to check, and the size it claims (read before its signature)."""

    label: str
    text: str
    size: int | None


def verify_log(
    directory: Path,
    *,
    jwks: Mapping[str, Any] | None = None,
    checkpoints: Sequence[str] = (),
    origin: str | None = None,
) -> VerificationResult:
    """Verifies the log in `directory`; raises VerificationError at the first problem.

    The directory's `checkpoint` file is checked if present, and so is every signed note in
    `checkpoints` (held by the caller from earlier). `origin` defaults to the one the log's
    first key entry declares."""
    layout = LogLayout(Path(directory))
    if not layout.directory.is_dir():
        raise VerificationError(f"{layout.directory}: not a directory")
    if not layout.log.exists():
        raise VerificationError(f"{layout.log}: no log file")
    independent = jwks is not None
    if jwks is None:
        jwks = load_jwks(layout.jwks)
    state = _State(
        keys=parse_jwks(jwks),
        receipts=ReceiptVerifier(jwks),
        origin=origin,
        independent_keys=independent,
    )

    claims = _claims(layout, checkpoints)
    wanted = {c.size for c in claims if c.size is not None}
    tree = merkle.MerkleAccumulator()
    at_size: dict[int, tuple[bytes, str | None]] = {0: (merkle.EMPTY_ROOT, None)}
    try:
        for index, line in _lines(layout):
            signed = _parse(index, line)
            _check_entry(index, signed, state)
            leaf = signed.entry.hash()
            tree.append(leaf)
            state.head = leaf.hex()
            if tree.size in wanted:
                at_size[tree.size] = (tree.root(), state.signer)
    except OSError as e:
        raise VerificationError(f"{layout.log}: unreadable: {e}") from e

    checked = [_check_checkpoint(claim, state, tree.size, at_size) for claim in claims]
    own = [size for claim, size in zip(claims, checked, strict=True) if claim.label == "checkpoint"]
    return VerificationResult(
        size=tree.size,
        root_hex=tree.root().hex(),
        head_hex=state.head,
        origin=state.origin,
        checkpoint_size=own[0] if own else None,
        signers=tuple(state.announced),
        held_checkpoints=tuple(
            size for claim, size in zip(claims, checked, strict=True) if claim.label != "checkpoint"
        ),
        unendorsed_key_changes=tuple(state.unendorsed),
        recoveries=tuple(state.recoveries),
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
    if entry.kind != "key" and index == 0:
        raise VerificationError("entry 0: a log must start with a key entry")
    if entry.kind != "key" and signed.kid != state.signer:
        raise VerificationError(
            f"entry {index}: signed by {signed.kid}, but the log's active key is {state.signer}"
        )
    try:
        signed.verify(key)
    except VerificationError as e:
        raise VerificationError(f"entry {index}: signature does not verify ({e})") from e
    if entry.prev != state.head:
        raise VerificationError(f"entry {index}: prev does not match hash of entry {index - 1}")
    if entry.kind == "key":
        _check_key_entry(index, signed, key, state)
    elif entry.kind == "decision":
        _check_receipt(index, signed, state)
    elif entry.kind == "recovery":
        state.recoveries.append(index)


def _check_key_entry(index: int, signed: SignedEntry, key: VerifyingKey, state: _State) -> None:
    """A key entry announces the key that signs it, for the log named `origin`; a key change
    is endorsed by the key it replaces and never brings back a retired key."""
    try:
        announcement = KeyAnnouncement.from_json(signed.entry.body)
    except VerificationError as e:
        raise VerificationError(f"entry {index}: {e}") from e
    if announcement.key.kid != signed.kid:
        raise VerificationError(f"entry {index}: key entry not signed by the key it announces")
    if announcement.key != key:
        raise VerificationError(f"entry {index}: announced key differs from the key set's")
    if state.origin is None:
        state.origin = announcement.origin
    elif announcement.origin != state.origin:
        raise VerificationError(
            f"entry {index}: origin {announcement.origin!r} is not {state.origin!r}"
        )
    if signed.kid in state.announced:
        raise VerificationError(
            f"entry {index}: key {signed.kid} was announced at entry "
            f"{state.announced[signed.kid]} already; a retired key never signs again"
        )
    _check_endorsement(index, signed, announcement, state)
    state.announced[signed.kid] = index
    state.signer = signed.kid


def _check_endorsement(
    index: int, signed: SignedEntry, announcement: KeyAnnouncement, state: _State
) -> None:
    endorsement = announcement.endorsement
    if state.signer is None:
        if endorsement is not None:
            raise VerificationError(f"entry {index}: the first key has no key to endorse it")
        return
    if endorsement is None:
        if not state.independent_keys:
            raise VerificationError(
                f"entry {index}: key change to {signed.kid} is not endorsed by the previous "
                f"key {state.signer}; only a key set obtained independently (--jwks) can "
                "vouch for it"
            )
        state.unendorsed.append(index)
        return
    try:
        endorsement.verify(
            state.keys[state.signer],
            origin=announcement.origin,
            seq=signed.entry.seq,
            prev=signed.entry.prev,
            new_kid=signed.kid,
        )
    except VerificationError as e:
        raise VerificationError(
            f"entry {index}: key change endorsement does not verify ({e})"
        ) from e


def _check_receipt(index: int, signed: SignedEntry, state: _State) -> None:
    receipt = signed.entry.body.get("receipt")
    if not isinstance(receipt, str):
        raise VerificationError(f"entry {index}: decision entry has no receipt")
    try:
        claims = state.receipts.verify(receipt)
    except VerificationError as e:
        raise VerificationError(f"entry {index}: {e}") from e
    kid = receipt_kid(receipt)
    if kid != signed.kid:
        raise VerificationError(
            f"entry {index}: receipt signed by {kid}, not by the entry's signer {signed.kid}"
        )
    expected = {"seq": signed.entry.seq, "prev": signed.entry.prev}
    if claims.get("log") != expected:
        raise VerificationError(
            f"entry {index}: receipt log claim {claims.get('log')} is not this entry's {expected}"
        )


def _claims(layout: LogLayout, held: Sequence[str]) -> list[_Claim]:
    texts: list[tuple[str, str]] = []
    try:
        texts.append(("checkpoint", layout.checkpoint.read_text(encoding="utf-8")))
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as e:
        raise VerificationError(f"{layout.checkpoint}: unreadable: {e}") from e
    for number, text in enumerate(held, start=1):
        label = "held checkpoint" if len(held) == 1 else f"held checkpoint {number}"
        texts.append((label, text))
    return [_Claim(label, text, _claimed_size(text)) for label, text in texts]


def _claimed_size(text: str) -> int | None:
    """The size a checkpoint claims, read before its signature is checked, only to know
    which intermediate root to remember; the claim is verified afterwards."""
    body, _, _ = text.partition("\n\n")
    try:
        return Checkpoint.from_body(body + "\n").size
    except VerificationError:
        return None


def _check_checkpoint(
    claim: _Claim, state: _State, size: int, at_size: dict[int, tuple[bytes, str | None]]
) -> int:
    """Checks one checkpoint against the log; returns its size."""
    origin = state.origin or claim.text.split("\n", 1)[0]
    known = at_size.get(claim.size) if claim.size is not None else None
    # Signed by the key active at its size; beyond the log that is unknowable, so any log key.
    signer = known[1] if known is not None else None
    trusted = [state.keys[signer]] if signer is not None else list(state.keys.values())
    try:
        checkpoint = parse_and_verify_checkpoint(claim.text, trusted, origin)
    except VerificationError as e:
        raise VerificationError(f"{claim.label}: {e}") from e
    if checkpoint.size > size:
        raise VerificationError(
            f"entry {size}: missing; the {claim.label} covers {checkpoint.size} entries but "
            f"the log holds {size} (truncated)"
        )
    if known is None or known[0] != checkpoint.root:
        what = (
            "rewritten"
            if claim.label == "checkpoint"
            else "a fork: the log was rewritten after this checkpoint was signed"
        )
        raise VerificationError(
            f"{claim.label}: the log's first {checkpoint.size} entries do not hash to its "
            f"root ({what})"
        )
    return checkpoint.size
