"""A small client for agency services: bearer token on every call, denials as exceptions
that carry the signed receipt and the reasons from the rich status details."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from biometric.broker.v1 import broker_pb2, broker_pb2_grpc
from grpc_status import rpc_status

MODALITIES = {"face": broker_pb2.MODALITY_FACE, "fingerprint": broker_pb2.MODALITY_FINGERPRINT}


class DeniedError(Exception):
    """PERMISSION_DENIED, with the denial's receipt and reasons."""

    def __init__(self, message: str, details: broker_pb2.DenialDetails) -> None:
        super().__init__(message)
        self.details = details

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return [(r.code, r.message) for r in self.details.reasons]


@dataclass(frozen=True)
class Justification:
    purpose: str
    legal_basis_type: str
    legal_basis_reference: str
    case_id: str
    offence: str = ""  # a code of the policy's offences catalogue, when there is one

    def to_proto(self) -> broker_pb2.Justification:
        return broker_pb2.Justification(
            purpose=self.purpose,
            legal_basis=broker_pb2.LegalBasis(
                type=self.legal_basis_type, reference=self.legal_basis_reference
            ),
            case_id=self.case_id,
            offence=self.offence,
        )


class BrokerClient:
    def __init__(
        self, channel: grpc.Channel, token: Callable[[], str], *, timeout: float = 10.0
    ) -> None:
        self._stub = broker_pb2_grpc.BiometricBrokerStub(channel)
        self._token = token
        self._timeout = timeout

    def identify(
        self,
        justification: Justification,
        modality: str,
        probe: np.ndarray,
        *,
        max_results: int = 10,
        target_origins: Sequence[str] = (),
        filters: Mapping[str, str] | None = None,
    ) -> broker_pb2.IdentifyResponse:
        request = broker_pb2.IdentifyRequest(
            justification=justification.to_proto(),
            modality=MODALITIES[modality],
            probe=np.asarray(probe, dtype=np.float32).tolist(),
            max_results=max_results,
            target_origins=list(target_origins),
            filters=dict(filters or {}),
        )
        response: broker_pb2.IdentifyResponse = self._call(self._stub.Identify, request)
        return response

    def verify(
        self, justification: Justification, record_id: str, modality: str, probe: np.ndarray
    ) -> broker_pb2.VerifyResponse:
        request = broker_pb2.VerifyRequest(
            justification=justification.to_proto(),
            record_id=record_id,
            modality=MODALITIES[modality],
            probe=np.asarray(probe, dtype=np.float32).tolist(),
        )
        response: broker_pb2.VerifyResponse = self._call(self._stub.Verify, request)
        return response

    def signing_keys(self) -> broker_pb2.GetSigningKeysResponse:
        response: broker_pb2.GetSigningKeysResponse = self._stub.GetSigningKeys(
            broker_pb2.GetSigningKeysRequest(), timeout=self._timeout
        )
        return response

    # The audit proof calls need no token. Check what they return offline with
    # broker.receipt_check.check_receipt (a receipt's tlog_proof) or broker.audit.proof.

    def checkpoint(self) -> broker_pb2.GetCheckpointResponse:
        response: broker_pb2.GetCheckpointResponse = self._stub.GetCheckpoint(
            broker_pb2.GetCheckpointRequest(), timeout=self._timeout
        )
        return response

    def receipt_proof(self, receipt_jws: str) -> broker_pb2.GetInclusionProofResponse:
        """The receipt's entry and a C2SP tlog-proof of it in the latest checkpoint."""
        response: broker_pb2.GetInclusionProofResponse = self._stub.GetInclusionProof(
            broker_pb2.GetInclusionProofRequest(receipt_jws=receipt_jws), timeout=self._timeout
        )
        return response

    def consistency_proof(
        self, old_size: int, new_size: int = 0
    ) -> broker_pb2.GetConsistencyProofResponse:
        response: broker_pb2.GetConsistencyProofResponse = self._stub.GetConsistencyProof(
            broker_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size),
            timeout=self._timeout,
        )
        return response

    def _call(self, method: grpc.UnaryUnaryMultiCallable, request: Any) -> Any:
        metadata = (("authorization", f"Bearer {self._token()}"),)
        try:
            return method(request, metadata=metadata, timeout=self._timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.PERMISSION_DENIED:
                raise DeniedError(e.details() or "denied", denial_details(e)) from e
            raise


def denial_details(error: grpc.RpcError) -> broker_pb2.DenialDetails:
    """Unpacks DenialDetails from a PERMISSION_DENIED error's rich status."""
    details = broker_pb2.DenialDetails()
    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            if detail.Is(broker_pb2.DenialDetails.DESCRIPTOR):
                detail.Unpack(details)
    return details
