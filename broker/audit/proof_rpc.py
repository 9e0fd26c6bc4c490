"""The audit proof calls of the gRPC API (GetCheckpoint, GetInclusionProof,
GetConsistencyProof), between their protobuf messages and the live log.

They are public (see broker.proto): arguments are checked here against the log's size, so a
caller's mistake is INVALID_ARGUMENT naming the field, and only an unusable log is UNAVAILABLE.
"""

from __future__ import annotations

from biometric.broker.v1 import broker_pb2

from broker.audit.log import AuditLog
from broker.audit.prover import prove_consistency, prove_inclusion, seq_of_receipt
from broker.errors import AuditError, InvalidRequestError, VerificationError
from broker.receipts import MAX_RECEIPT_CHARS, ReceiptVerifier

__all__ = ["ProofService"]


class ProofService:
    def __init__(self, log: AuditLog) -> None:
        self._log = log

    def checkpoint(
        self, _request: broker_pb2.GetCheckpointRequest
    ) -> broker_pb2.GetCheckpointResponse:
        signed = self._log.latest_checkpoint(covering=1 if self._log.size else 0)
        if signed is None:
            raise AuditError("the log has no checkpoint yet")
        return broker_pb2.GetCheckpointResponse(
            checkpoint=signed.text,
            origin=signed.checkpoint.origin,
            tree_size=signed.size,
            root_hash=signed.root,
        )

    def inclusion(
        self, request: broker_pb2.GetInclusionProofRequest
    ) -> broker_pb2.GetInclusionProofResponse:
        which = request.WhichOneof("entry")
        size = self._log.size
        tree_size = request.tree_size or None
        if tree_size is not None and tree_size > size:
            raise InvalidRequestError("tree_size", f"{tree_size} exceeds the log's {size} entries")
        if which == "log_seq":
            seq = request.log_seq
        elif which == "receipt_jws":
            seq = self._receipt_seq(request.receipt_jws)
        else:
            raise InvalidRequestError("entry", "give log_seq or receipt_jws")
        bound = tree_size if tree_size is not None else size
        if seq >= bound:
            raise InvalidRequestError("log_seq", f"{seq} is not in a tree of {bound} entries")
        try:
            answer = prove_inclusion(
                self._log, seq, tree_size=tree_size, with_entry=which == "receipt_jws"
            )
        except VerificationError as e:
            raise AuditError(str(e)) from e
        checkpoint = answer.checkpoint
        return broker_pb2.GetInclusionProofResponse(
            log_seq=seq,
            tree_size=answer.tree_size,
            leaf_hash=answer.leaf_hash,
            proof=list(answer.proof),
            checkpoint="" if checkpoint is None else checkpoint.text,
            entry=answer.entry or b"",
            tlog_proof=(
                answer.bundle().to_text()
                if checkpoint is not None and answer.entry is not None
                else ""
            ),
        )

    def _receipt_seq(self, receipt_jws: str) -> int:
        if len(receipt_jws) > MAX_RECEIPT_CHARS:
            raise InvalidRequestError("receipt_jws", "too long for a receipt")
        try:
            return seq_of_receipt(self._log, receipt_jws, ReceiptVerifier(self._log.jwks()))
        except VerificationError as e:
            raise InvalidRequestError("receipt_jws", f"not a receipt of this log: {e}") from e

    def consistency(
        self, request: broker_pb2.GetConsistencyProofRequest
    ) -> broker_pb2.GetConsistencyProofResponse:
        size = self._log.size
        old_size, new_size = request.old_size, request.new_size or None
        if new_size is not None and new_size > size:
            raise InvalidRequestError("new_size", f"{new_size} exceeds the log's {size} entries")
        bound = new_size if new_size is not None else size
        if not 1 <= old_size <= bound:
            raise InvalidRequestError("old_size", f"must be within 1..{bound}")
        try:
            answer = prove_consistency(self._log, old_size, new_size)
        except VerificationError as e:
            raise AuditError(str(e)) from e
        return broker_pb2.GetConsistencyProofResponse(
            old_size=answer.old_size,
            new_size=answer.new_size,
            proof=list(answer.proof),
            checkpoint="" if answer.checkpoint is None else answer.checkpoint.text,
        )
