"""Conversion between protobuf messages and the matcher's dataclasses, at the edge only.

Generated classes never travel past matcher/service.py: requests become dataclasses here
(every problem an InvalidInputError naming the proto field), results become messages here.
Timestamps become aware UTC datetimes (nanoseconds are truncated to microseconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import numpy as np
from biometric.matcher.v1 import matcher_pb2

from matcher.errors import InvalidInputError
from matcher.gallery import PurgeStatus
from matcher.records import MatchResult, PartitionSummary, RecordProvenance, SearchFilters
from matcher.templates import FACE, FINGERPRINT

MODALITIES: Mapping[int, str] = MappingProxyType(
    {matcher_pb2.MODALITY_FACE: FACE, matcher_pb2.MODALITY_FINGERPRINT: FINGERPRINT}
)
_ENUM_OF_MODALITY: Mapping[str, Any] = {name: value for value, name in MODALITIES.items()}


def modality_from_proto(field: str, value: int) -> str:
    """The modality name of an enum value; UNSPECIFIED and unknown values are refused."""
    modality = MODALITIES.get(value)
    if modality is None:
        raise InvalidInputError(field, f"modality {value} is unspecified or unknown")
    return modality


def template_from_proto(values: Any) -> np.ndarray:
    """The repeated float field as a float64 array (validated by the gallery)."""
    return np.asarray(list(values), dtype=np.float64)


def moment_from_proto(field: str, message: Any, name: str) -> datetime | None:
    """The timestamp field `name` of `message` as an aware UTC datetime; None when unset."""
    if not message.HasField(name):
        return None
    try:
        moment: datetime = getattr(message, name).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidInputError(field, f"invalid timestamp: {error}") from error
    return moment


def _required_moment(field: str, message: Any, name: str) -> datetime:
    moment = moment_from_proto(field, message, name)
    if moment is None:
        raise InvalidInputError(field, "required")
    return moment


def _required_text(field: str, value: str) -> str:
    if not value:
        raise InvalidInputError(field, "required")
    return value


def provenance_from_proto(request: Any) -> RecordProvenance:
    """The provenance of an AddRequest; origin, agency, captured_at, retain_until required."""
    if not request.HasField("provenance"):
        raise InvalidInputError("provenance", "required")
    message = request.provenance
    return RecordProvenance(
        origin_jurisdiction=_required_text(
            "provenance.origin_jurisdiction", message.origin_jurisdiction
        ),
        source_agency=_required_text("provenance.source_agency", message.source_agency),
        lineage=tuple(message.lineage),
        consent_scopes=tuple(message.consent_scopes),
        captured_at=_required_moment("provenance.captured_at", message, "captured_at"),
        retain_until=_required_moment("provenance.retain_until", message, "retain_until"),
        consent_withdrawn_at=moment_from_proto(
            "provenance.consent_withdrawn_at", message, "consent_withdrawn_at"
        ),
    )


def filters_from_proto(request: Any) -> SearchFilters:
    """The filters of a Search or Compare request; `valid_at` is required."""
    if not request.HasField("filters"):
        raise InvalidInputError("filters.valid_at", "required (no filters were sent)")
    message = request.filters
    return SearchFilters(
        valid_at=_required_moment("filters.valid_at", message, "valid_at"),
        exclude_origins=tuple(message.exclude_origins),
        include_origins=tuple(message.include_origins),
        required_consent_scope=message.required_consent_scope or None,
        not_captured_before=moment_from_proto(
            "filters.not_captured_before", message, "not_captured_before"
        ),
        source_agencies=tuple(message.source_agencies),
    )


def provenance_to_proto(provenance: RecordProvenance) -> Any:
    """The Provenance message of a record."""
    message = matcher_pb2.Provenance(
        origin_jurisdiction=provenance.origin_jurisdiction,
        source_agency=provenance.source_agency,
        lineage=list(provenance.lineage),
        consent_scopes=list(provenance.consent_scopes),
    )
    message.captured_at.FromDatetime(provenance.captured_at)
    message.retain_until.FromDatetime(provenance.retain_until)
    if provenance.consent_withdrawn_at is not None:
        message.consent_withdrawn_at.FromDatetime(provenance.consent_withdrawn_at)
    return message


def match_to_proto(match: MatchResult) -> Any:
    """The Match message of a search result."""
    return matcher_pb2.Match(
        record_id=match.record_id,
        score=match.score,
        provenance=provenance_to_proto(match.provenance),
    )


def partition_to_proto(partition: PartitionSummary) -> Any:
    """The Partition message of a partition summary."""
    return matcher_pb2.Partition(
        modality=_ENUM_OF_MODALITY[partition.modality],
        origin_jurisdiction=partition.origin_jurisdiction,
        record_count=partition.record_count,
    )


def purge_status_to_proto(status: PurgeStatus) -> Any:
    """The GetPurgeStatusResponse of a purge status."""
    message = matcher_pb2.GetPurgeStatusResponse(
        purged=status.purged,
        generation=status.generation or 0,
        live_generation=status.live_generation,
    )
    if status.purged_at is not None:
        message.purged_at.FromDatetime(status.purged_at)
    return message
