"""Rotating the broker's signing key, with the broker stopped (the log admits one writer).

The new key is written beside the old one first (`<key file>.next`, 0600), then the log
records the change (a key entry signed by the new key and endorsed by the old one), and only
then does the new key replace the old file. A crash before the log entry leaves the old key
in charge and the staged key unused; a crash after it leaves the staged key, which the next
`broker keys rotate` points at. The old public key stays in the log's key set for ever, so
every receipt it signed still verifies; the old private key is overwritten.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from broker.audit.durable import fsync_directory
from broker.audit.layout import LogLayout
from broker.audit.log import AuditLog
from broker.errors import AuditError, SigningError
from broker.keys import SigningKey

__all__ = ["Rotation", "rotate_signing_key", "staged_key_path"]


@dataclass(frozen=True)
class Rotation:
    old_kid: str | None  # None when the log had no key yet
    new_kid: str
    entry_seq: int  # the key entry announcing the new key
    endorsed: bool


def staged_key_path(key_file: Path) -> Path:
    return key_file.with_name(key_file.name + ".next")


def rotate_signing_key(
    key_file: Path, audit_dir: Path, origin: str, *, unendorsed: bool = False
) -> Rotation:
    """Replaces the key in `key_file` by a new one and records the change in the log.

    With `unendorsed` (the active key is lost) the new key is announced without the old
    key's endorsement; verifiers then accept it only through a key set they hold."""
    log_file = LogLayout(Path(audit_dir)).log
    if not log_file.is_file() or log_file.stat().st_size == 0:
        raise SigningError(f"{log_file}: no log to rotate in (the broker starts one with its key)")
    staged = staged_key_path(key_file)
    if staged.exists():
        raise SigningError(
            f"{staged}: exists, so an earlier rotation was interrupted. If "
            f"`broker audit verify {audit_dir}` reports its kid as the active key, move it "
            f"over {key_file}; otherwise remove it. Then rotate again if needed."
        )
    new = SigningKey.generate()
    new.save_pem(staged)
    recorded = False
    try:
        if unendorsed:
            _refuse_if_active_key_is_present(key_file, audit_dir, origin)
            with AuditLog.open(
                audit_dir, new, origin=origin, unsafe_unendorsed_key_change=True
            ) as log:
                recorded = True
                history, seq = log.key_history, log.active_since
            old_kid = history[-2] if len(history) > 1 else None
        else:
            old = SigningKey.load_pem(key_file)
            with AuditLog.open(audit_dir, old, origin=origin) as log:
                seq = log.rotate(new).seq
                recorded = True
            old_kid = old.kid
    except BaseException:
        if not recorded:  # the log never named the new key: it is just a stray file
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
        raise
    try:
        os.replace(staged, key_file)
        fsync_directory(key_file.parent)
    except OSError as e:
        raise SigningError(
            f"the log now signs with {new.kid}, kept in {staged}, but it could not replace "
            f"{key_file}: {e}; move it there before starting the broker"
        ) from e
    return Rotation(old_kid, new.kid, seq, endorsed=not unendorsed)


def _refuse_if_active_key_is_present(key_file: Path, audit_dir: Path, origin: str) -> None:
    """An unendorsed change is for a lost key only: if `key_file` still opens the log, the
    active key is there and a normal, endorsed rotation is possible."""
    try:
        current = SigningKey.load_pem(key_file)
    except SigningError:
        return  # missing or unreadable: lost indeed
    try:
        log = AuditLog.open(audit_dir, current, origin=origin)
    except AuditError:
        return  # not the log's active key
    log.close()
    raise SigningError(
        f"{key_file} holds the log's active key {current.kid}: rotate without --unendorsed, "
        "so that it endorses its successor"
    )
