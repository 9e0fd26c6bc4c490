"""The broker's side of the internal matcher contract (biometric.matcher.v1).

Converts core records to and from matcher protos, applies a deadline to every call, and turns
transport failures into MatcherUnavailableError, so the pipeline never sees a grpc.RpcError.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import numpy as np
from biometric.matcher.v1 import matcher_pb2, matcher_pb2_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from broker.errors import InvalidRequestError, MatcherUnavailableError, RecordExistsError
from broker.models import Candidate, Modality, Provenance

_TO_PROTO = {
    Modality.FACE: matcher_pb2.MODALITY_FACE,
    Modality.FINGERPRINT: matcher_pb2.MODALITY_FINGERPRINT,
}
_FROM_PROTO = {v: k for k, v in _TO_PROTO.items()}
# How long a partition listing is trusted before the next call refreshes it. Partitions
# appear when a new origin is enrolled; the broker also refreshes right after its own Enroll.
PARTITION_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Filters:
    """Obligations pushed down to the matcher."""

    valid_at: datetime
    include_origins: tuple[str, ...] = ()
    exclude_origins: tuple[str, ...] = ()
    required_consent_scope: str | None = None
    not_captured_before: datetime | None = None
    source_agencies: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchOutcome:
    candidates: tuple[Candidate, ...]
    partitions_searched: tuple[str, ...]


class MatcherClient:
    def __init__(self, address: str, *, timeout_seconds: float) -> None:
        self._channel = grpc.insecure_channel(address)
        self._stub = matcher_pb2_grpc.MatcherStub(self._channel)
        self._timeout = timeout_seconds
        self._partitions: tuple[tuple[Modality, str], ...] | None = None
        self._partitions_at = 0.0
        self._partitions_lock = threading.Lock()

    def close(self) -> None:
        self._channel.close()

    def search(
        self, modality: Modality, probe: np.ndarray, *, k: int, min_score: float, filters: Filters
    ) -> SearchOutcome:
        request = matcher_pb2.SearchRequest(
            modality=_TO_PROTO[modality],
            probe=probe.tolist(),
            k=k,
            min_score=min_score,
            filters=_filters(filters),
        )
        response = self._call(self._stub.Search, request)
        return SearchOutcome(
            candidates=tuple(
                Candidate(m.record_id, float(m.score), _provenance(m.provenance))
                for m in response.matches
            ),
            partitions_searched=tuple(response.partitions_searched),
        )

    def compare(
        self, record_id: str, modality: Modality, probe: np.ndarray, filters: Filters
    ) -> Candidate | None:
        request = matcher_pb2.CompareRequest(
            record_id=record_id,
            modality=_TO_PROTO[modality],
            probe=probe.tolist(),
            filters=_filters(filters),
        )
        response = self._call(self._stub.Compare, request)
        if not response.found:
            return None
        return Candidate(record_id, float(response.score), _provenance(response.provenance))

    def add(
        self, record_id: str, modality: Modality, template: np.ndarray, provenance: Provenance
    ) -> int:
        request = matcher_pb2.AddRequest(
            record_id=record_id,
            modality=_TO_PROTO[modality],
            template=template.tolist(),
            provenance=_provenance_proto(provenance),
        )
        response = self._call(self._stub.Add, request)
        with self._partitions_lock:
            self._partitions = None  # a new origin may have appeared
        return int(response.journal_seq)

    def remove(self, record_id: str) -> bool:
        response = self._call(self._stub.Remove, matcher_pb2.RemoveRequest(record_id=record_id))
        return bool(response.removed)

    def partitions(self) -> tuple[tuple[Modality, str], ...]:
        """(modality, origin) pairs that exist, from a short-lived cache."""
        with self._partitions_lock:
            fresh = time.monotonic() - self._partitions_at < PARTITION_CACHE_SECONDS
            if self._partitions is not None and fresh:
                return self._partitions
            try:
                response = self._call(
                    self._stub.ListPartitions, matcher_pb2.ListPartitionsRequest()
                )
            except MatcherUnavailableError:
                if self._partitions is None:
                    raise
                # A stale listing still lets the policy decide and the log record it; the
                # search that follows fails and is recorded as the outcome.
                return self._partitions
            self._partitions = tuple(
                (_FROM_PROTO[p.modality], p.origin_jurisdiction)
                for p in response.partitions
                if p.modality in _FROM_PROTO
            )
            self._partitions_at = time.monotonic()
            return self._partitions

    def _call(self, method: grpc.UnaryUnaryMultiCallable, request: object) -> Any:
        try:
            return method(request, timeout=self._timeout, wait_for_ready=False)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.ALREADY_EXISTS:
                raise RecordExistsError("record_id: a record with this id already exists") from e
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                raise InvalidRequestError("matcher", e.details() or "rejected") from e
            raise MatcherUnavailableError(f"matcher call failed: {code.name}") from e


def _timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


def _filters(f: Filters) -> matcher_pb2.SearchFilters:
    proto = matcher_pb2.SearchFilters(
        exclude_origins=list(f.exclude_origins),
        include_origins=list(f.include_origins),
        required_consent_scope=f.required_consent_scope or "",
        valid_at=_timestamp(f.valid_at),
        source_agencies=list(f.source_agencies),
    )
    if f.not_captured_before is not None:
        proto.not_captured_before.CopyFrom(_timestamp(f.not_captured_before))
    return proto


def _provenance(p: matcher_pb2.Provenance) -> Provenance:
    return Provenance(
        origin_jurisdiction=p.origin_jurisdiction,
        source_agency=p.source_agency,
        lineage=tuple(p.lineage),
        consent_scopes=tuple(p.consent_scopes),
        captured_at=p.captured_at.ToDatetime(tzinfo=UTC),
        retain_until=p.retain_until.ToDatetime(tzinfo=UTC),
        consent_withdrawn_at=(
            p.consent_withdrawn_at.ToDatetime(tzinfo=UTC)
            if p.HasField("consent_withdrawn_at")
            else None
        ),
    )


def _provenance_proto(p: Provenance) -> matcher_pb2.Provenance:
    proto = matcher_pb2.Provenance(
        origin_jurisdiction=p.origin_jurisdiction,
        source_agency=p.source_agency,
        lineage=list(p.lineage),
        consent_scopes=list(p.consent_scopes),
        captured_at=_timestamp(p.captured_at),
        retain_until=_timestamp(p.retain_until),
    )
    if p.consent_withdrawn_at is not None:
        proto.consent_withdrawn_at.CopyFrom(_timestamp(p.consent_withdrawn_at))
    return proto


def origins_of(partitions: Iterable[tuple[Modality, str]], modality: Modality) -> list[str]:
    return sorted({origin for m, origin in partitions if m == modality})
