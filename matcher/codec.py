"""The on-disk JSON form of provenance and records (journal lines, records.jsonl).

Timestamps are RFC 3339 in UTC with microseconds ("2026-11-23T10:00:00.000000Z"); templates
are base64 of little-endian float32, so a stored template is bit-identical to the one the
index and the exact re-rank use. Anything that does not decode is a `GalleryError`.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import numpy as np

from matcher.errors import GalleryError, MatcherError
from matcher.records import GalleryRecord, RecordProvenance
from matcher.templates import DIMENSIONS

_TEMPLATE_DTYPE = np.dtype("<f4")


def format_moment(moment: datetime) -> str:
    """Formats an aware datetime as RFC 3339 UTC with microseconds and a 'Z' suffix."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_moment(text: object) -> datetime:
    """Parses what `format_moment` wrote; the 'Z' is required."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise GalleryError(f"stored timestamp {text!r} is not RFC 3339 UTC")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as error:
        raise GalleryError(f"stored timestamp {text!r} is not RFC 3339 UTC") from error


def encode_provenance(provenance: RecordProvenance) -> dict[str, Any]:
    """Returns the JSON object form of a provenance."""
    withdrawn = provenance.consent_withdrawn_at
    return {
        "origin_jurisdiction": provenance.origin_jurisdiction,
        "source_agency": provenance.source_agency,
        "lineage": list(provenance.lineage),
        "consent_scopes": list(provenance.consent_scopes),
        "captured_at": format_moment(provenance.captured_at),
        "retain_until": format_moment(provenance.retain_until),
        "consent_withdrawn_at": None if withdrawn is None else format_moment(withdrawn),
    }


def decode_provenance(document: object) -> RecordProvenance:
    """Rebuilds a provenance from its JSON form, re-checking every invariant."""
    if not isinstance(document, dict):
        raise GalleryError("stored provenance is not a JSON object")
    try:
        withdrawn = document["consent_withdrawn_at"]
        return RecordProvenance(
            origin_jurisdiction=document["origin_jurisdiction"],
            source_agency=document["source_agency"],
            lineage=tuple(document["lineage"]),
            consent_scopes=tuple(document["consent_scopes"]),
            captured_at=parse_moment(document["captured_at"]),
            retain_until=parse_moment(document["retain_until"]),
            consent_withdrawn_at=None if withdrawn is None else parse_moment(withdrawn),
        )
    except (KeyError, TypeError) as error:
        raise GalleryError(f"stored provenance is incomplete: {error}") from error
    except MatcherError as error:
        raise GalleryError(f"stored provenance is invalid: {error}") from error


def encode_template(template: np.ndarray) -> str:
    """Returns base64 of the template as little-endian float32."""
    return base64.b64encode(np.asarray(template, dtype=_TEMPLATE_DTYPE).tobytes()).decode()


def decode_template(text: object, modality: str) -> np.ndarray:
    """Decodes a base64 float32 template of the modality's dimension."""
    if not isinstance(text, str):
        raise GalleryError("stored template is not a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise GalleryError("stored template is not valid base64") from error
    if len(raw) != DIMENSIONS[modality] * _TEMPLATE_DTYPE.itemsize:
        raise GalleryError(f"stored template has {len(raw)} bytes, wrong for {modality}")
    return np.frombuffer(raw, dtype=_TEMPLATE_DTYPE).astype(np.float32)


def encode_record(record: GalleryRecord) -> dict[str, Any]:
    """Returns the JSON object form of a whole record, template included."""
    return {
        "record_id": record.record_id,
        "modality": record.modality,
        "template": encode_template(record.template),
        "provenance": encode_provenance(record.provenance),
    }


def decode_record(document: object) -> GalleryRecord:
    """Rebuilds a record from `encode_record`'s form, re-checking every invariant."""
    if not isinstance(document, dict):
        raise GalleryError("stored record is not a JSON object")
    try:
        modality = document["modality"]
        if modality not in DIMENSIONS:
            raise GalleryError(f"stored record has unknown modality {modality!r}")
        return GalleryRecord(
            record_id=document["record_id"],
            modality=modality,
            template=decode_template(document["template"], modality),
            provenance=decode_provenance(document["provenance"]),
        )
    except (KeyError, TypeError) as error:
        raise GalleryError(f"stored record is incomplete: {error}") from error
    except GalleryError:
        raise
    except MatcherError as error:
        raise GalleryError(f"stored record is invalid: {error}") from error
