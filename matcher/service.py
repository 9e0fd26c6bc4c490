"""The `biometric.matcher.v1.Matcher` servicer: protos in, gallery calls, protos out.

Domain exceptions become gRPC statuses here and nowhere else: InvalidInputError →
INVALID_ARGUMENT ("field: message"), DuplicateRecordError → ALREADY_EXISTS, GalleryError
(storage failed, gallery closed) → UNAVAILABLE, anything else → INTERNAL. The last two
carry fixed messages; the details go to the matcher's log, never to the caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from biometric.matcher.v1 import matcher_pb2

from matcher.errors import DuplicateRecordError, GalleryError, InvalidInputError
from matcher.gallery import Gallery
from matcher.records import GalleryRecord, check_record_id
from matcher.wire import (
    filters_from_proto,
    match_to_proto,
    modality_from_proto,
    partition_to_proto,
    provenance_from_proto,
    provenance_to_proto,
    purge_status_to_proto,
    template_from_proto,
)

LOG = logging.getLogger(__name__)
UNAVAILABLE_MESSAGE = "the matcher's gallery is unavailable"
INTERNAL_MESSAGE = "internal matcher error"
# The proto says a min_score of 0 means no threshold; -1 is the lowest cosine similarity.
NO_THRESHOLD = -1.0

Response = TypeVar("Response")


def _nothing() -> None:
    """The default `after_mutation` hook."""


def _translate(context: Any, call: Callable[[], Response]) -> Response:
    """Runs `call`, turning matcher exceptions into the gRPC status they stand for."""
    try:
        return call()
    except InvalidInputError as error:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    except DuplicateRecordError as error:
        context.abort(grpc.StatusCode.ALREADY_EXISTS, str(error))
    except GalleryError:
        LOG.exception("gallery failure")
        context.abort(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE_MESSAGE)
    except Exception:
        LOG.exception("unexpected failure")
        context.abort(grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE)
    raise AssertionError("context.abort returned")  # pragma: no cover


class MatcherService:
    """Serves one gallery. `after_mutation` runs after each successful Add or Remove."""

    def __init__(self, gallery: Gallery, after_mutation: Callable[[], None] = _nothing) -> None:
        self._gallery = gallery
        self._after_mutation = after_mutation

    def Search(self, request: Any, context: Any) -> Any:  # noqa: N802  (gRPC method name)
        """1:N search over the admitted partitions of one modality."""
        return _translate(context, lambda: self._search(request))

    def Compare(self, request: Any, context: Any) -> Any:  # noqa: N802
        """1:1 comparison against one record."""
        return _translate(context, lambda: self._compare(request))

    def Add(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Enrols a record; durable and searchable when this returns."""
        return _translate(context, lambda: self._add(request))

    def Remove(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Expunges a record; never returned again once this returns."""
        return _translate(context, lambda: self._remove(request))

    def GetPurgeStatus(self, request: Any, context: Any) -> Any:  # noqa: N802
        """Which rebuild deleted a removal's template from disk, for the audit log."""
        return _translate(context, lambda: self._purge_status(request))

    def ListPartitions(self, request: Any, context: Any) -> Any:  # noqa: N802
        """The partitions holding live records, for the policy's Identify resource."""
        return _translate(context, self._list_partitions)

    def _list_partitions(self) -> Any:
        return matcher_pb2.ListPartitionsResponse(
            partitions=[partition_to_proto(p) for p in self._gallery.partitions()]
        )

    def _search(self, request: Any) -> Any:
        modality = modality_from_proto("modality", request.modality)
        min_score = float(request.min_score) or NO_THRESHOLD
        matches, searched = self._gallery.search(
            modality,
            template_from_proto(request.probe),
            int(request.k),
            min_score,
            filters_from_proto(request),
        )
        return matcher_pb2.SearchResponse(
            matches=[match_to_proto(match) for match in matches],
            partitions_searched=searched,
        )

    def _compare(self, request: Any) -> Any:
        record_id = check_record_id("record_id", request.record_id)
        result = self._gallery.compare(
            record_id,
            modality_from_proto("modality", request.modality),
            template_from_proto(request.probe),
            filters_from_proto(request),
        )
        if result is None:
            return matcher_pb2.CompareResponse(found=False)
        return matcher_pb2.CompareResponse(
            found=True, score=result.score, provenance=provenance_to_proto(result.provenance)
        )

    def _add(self, request: Any) -> Any:
        record = GalleryRecord(
            record_id=check_record_id("record_id", request.record_id),
            modality=modality_from_proto("modality", request.modality),
            template=template_from_proto(request.template),
            provenance=provenance_from_proto(request),
        )
        seq = self._gallery.add(record)
        self._after_mutation()
        return matcher_pb2.AddResponse(journal_seq=seq)

    def _purge_status(self, request: Any) -> Any:
        return purge_status_to_proto(self._gallery.purge_status(int(request.journal_seq)))

    def _remove(self, request: Any) -> Any:
        removal = self._gallery.remove(check_record_id("record_id", request.record_id))
        if removal.removed:
            self._after_mutation()
        return matcher_pb2.RemoveResponse(removed=removal.removed, journal_seq=removal.journal_seq)
