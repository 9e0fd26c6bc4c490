"""Receipt verification on the caller's side: is this receipt the broker's, and is it in the log?

A caller needs only the broker's public key set (GetSigningKeys, or `broker keys export
--audit-dir`) and, to know the decision was recorded where an oversight body can see it, a
C2SP tlog-proof from `broker audit prove` or GetInclusionProof. Nothing here talks to the
broker: everything is checked offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.audit.checkpoint import Checkpoint
from broker.audit.proof import InclusionBundle, verify_inclusion_bundle
from broker.errors import VerificationError
from broker.keys import parse_jwks
from broker.receipts import ReceiptVerifier, receipt_kid

__all__ = ["CheckedReceipt", "check_receipt"]


@dataclass(frozen=True)
class CheckedReceipt:
    """A receipt that verified, and (with a proof) the signed tree head that contains it."""

    claims: dict[str, Any]
    kid: str
    log_seq: int
    included_in: Checkpoint | None = None

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])


def check_receipt(
    receipt_jws: str,
    jwks: Mapping[str, Any],
    *,
    proof: str | None = None,
    origin: str | None = None,
    issuer: str | None = None,
) -> CheckedReceipt:
    """Returns only if `receipt_jws` is signed by a key of `jwks` (and issued by `issuer`,
    when given) and, with `proof` (a tlog-proof text), if the log entry at the receipt's own
    position holds exactly this receipt and is in a tree the log signed (for log `origin`,
    when given). Raises VerificationError naming what failed."""
    claims = ReceiptVerifier(jwks, issuer=issuer).verify(receipt_jws)
    kid = receipt_kid(receipt_jws)
    seq = int(claims["log"]["seq"])
    if proof is None:
        return CheckedReceipt(claims, kid, seq)
    bundle = InclusionBundle.from_text(proof)
    verified = verify_inclusion_bundle(bundle, list(parse_jwks(jwks).values()), origin=origin)
    entry = verified.entry
    if entry is None:
        raise VerificationError("proof: carries no entry (no extra line) to compare")
    if entry.seq != seq or entry.prev != claims["log"]["prev"]:
        raise VerificationError(
            f"proof: is for entry {entry.seq}, but the receipt sits at {claims['log']}"
        )
    if entry.kind != "decision" or entry.body.get("receipt") != receipt_jws:
        raise VerificationError(f"proof: entry {entry.seq} does not hold this receipt")
    return CheckedReceipt(claims, kid, seq, verified.checkpoint)
