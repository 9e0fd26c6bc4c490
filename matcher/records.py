"""The matcher's value types. Each checks its invariants when constructed, naming the field.

Field names in errors are the proto's (`provenance.captured_at`, `filters.valid_at`), so an
error raised here reaches the broker unchanged as INVALID_ARGUMENT.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from matcher.errors import InvalidInputError
from matcher.templates import check_modality, normalise_template

# Record ids are opaque to the matcher but travel in logs and file names of tools.
RECORD_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Origins key partitions and appear in "modality/origin" and in directory names, so they
# are restricted to characters that are safe in both (ISO 3166-2 style codes fit).
ORIGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# Agencies and consent scopes: printable text without control characters.
TEXT_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
# Limits that stop abuse (a request or record carrying huge lists).
MAX_LINEAGE = 32  # an agency chain longer than this is not a real transfer history
MAX_CONSENT_SCOPES = 64  # purposes per record
MAX_FILTER_VALUES = 1024  # origins or agencies per filter list


def check_record_id(field_name: str, record_id: object) -> str:
    """Returns `record_id` when it is 1..128 characters of [A-Za-z0-9._:-]."""
    if not isinstance(record_id, str) or not RECORD_ID_PATTERN.fullmatch(record_id):
        raise InvalidInputError(
            field_name, f"{record_id!r} is not 1..128 characters of [A-Za-z0-9._:-]"
        )
    return record_id


def check_origin(field_name: str, origin: object) -> str:
    """Returns `origin` when it is a well-formed jurisdiction code such as "US-OR"."""
    if not isinstance(origin, str) or not ORIGIN_PATTERN.fullmatch(origin):
        raise InvalidInputError(
            field_name,
            f"{origin!r} is not a jurisdiction code (1..64 of [A-Za-z0-9_-], "
            "starting with a letter or digit)",
        )
    return origin


def check_text(field_name: str, text: object) -> str:
    """Returns `text` when it is 1..128 characters without control characters."""
    if not isinstance(text, str) or not TEXT_PATTERN.fullmatch(text):
        raise InvalidInputError(field_name, f"{text!r} is not 1..128 printable characters")
    return text


def check_moment(field_name: str, moment: object) -> datetime:
    """Returns `moment` in UTC; naive datetimes are rejected because they are ambiguous."""
    if not isinstance(moment, datetime):
        raise InvalidInputError(field_name, "required (an aware datetime)")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputError(field_name, "naive datetime: a time zone is required")
    return moment.astimezone(UTC)


def _check_list(
    field_name: str,
    values: Iterable[str],
    limit: int,
    check: Callable[[str, object], str] = check_text,
) -> tuple[str, ...]:
    """Returns the values as a tuple, each checked; a bare string is refused, not split."""
    if isinstance(values, str):
        raise InvalidInputError(field_name, "expected a list of strings, got one string")
    items = tuple(values)
    if len(items) > limit:
        raise InvalidInputError(field_name, f"at most {limit} values, got {len(items)}")
    return tuple(check(f"{field_name}[{i}]", item) for i, item in enumerate(items))


@dataclass(frozen=True)
class RecordProvenance:
    """Where a record came from and what it may be used for; travels with the record."""

    origin_jurisdiction: str
    source_agency: str
    lineage: tuple[str, ...]
    consent_scopes: tuple[str, ...]
    captured_at: datetime
    retain_until: datetime
    consent_withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        check_origin("provenance.origin_jurisdiction", self.origin_jurisdiction)
        check_text("provenance.source_agency", self.source_agency)
        lineage = _check_list("provenance.lineage", self.lineage, MAX_LINEAGE)
        scopes = _check_list("provenance.consent_scopes", self.consent_scopes, MAX_CONSENT_SCOPES)
        captured = check_moment("provenance.captured_at", self.captured_at)
        retain = check_moment("provenance.retain_until", self.retain_until)
        if retain <= captured:
            raise InvalidInputError("provenance.retain_until", "must be after captured_at")
        withdrawn = None
        if self.consent_withdrawn_at is not None:
            withdrawn = check_moment("provenance.consent_withdrawn_at", self.consent_withdrawn_at)
        object.__setattr__(self, "lineage", lineage)
        object.__setattr__(self, "consent_scopes", scopes)
        object.__setattr__(self, "captured_at", captured)
        object.__setattr__(self, "retain_until", retain)
        object.__setattr__(self, "consent_withdrawn_at", withdrawn)

    def expired(self, now: datetime) -> bool:
        """Whether retention has ended at `now`: from then on the record is never returned."""
        return self.retain_until <= now


@dataclass(frozen=True, eq=False)
class GalleryRecord:
    """One enrolled template. Any real vector of the modality's dimension is accepted;
    `template` then holds it L2-normalised as read-only float32."""

    record_id: str
    modality: str
    template: np.ndarray
    provenance: RecordProvenance

    def __post_init__(self) -> None:
        check_record_id("record_id", self.record_id)
        check_modality("modality", self.modality)
        if not isinstance(self.provenance, RecordProvenance):
            raise InvalidInputError("provenance", "required")
        unit = normalise_template("template", self.modality, self.template)
        object.__setattr__(self, "template", unit)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GalleryRecord):
            return NotImplemented
        return (
            self.record_id == other.record_id
            and self.modality == other.modality
            and self.provenance == other.provenance
            and bool(np.array_equal(self.template, other.template))
        )

    __hash__ = None  # type: ignore[assignment]  # equality compares arrays; not hashable


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions pushed down by the broker; a record is returned only if all hold."""

    valid_at: datetime
    exclude_origins: tuple[str, ...] = ()
    include_origins: tuple[str, ...] = ()
    required_consent_scope: str | None = None
    not_captured_before: datetime | None = None
    source_agencies: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        valid_at = check_moment("filters.valid_at", self.valid_at)
        exclude = _check_list(
            "filters.exclude_origins", self.exclude_origins, MAX_FILTER_VALUES, check_origin
        )
        include = _check_list(
            "filters.include_origins", self.include_origins, MAX_FILTER_VALUES, check_origin
        )
        agencies = _check_list("filters.source_agencies", self.source_agencies, MAX_FILTER_VALUES)
        if self.required_consent_scope is not None:
            check_text("filters.required_consent_scope", self.required_consent_scope)
        not_before = None
        if self.not_captured_before is not None:
            not_before = check_moment("filters.not_captured_before", self.not_captured_before)
        object.__setattr__(self, "valid_at", valid_at)
        object.__setattr__(self, "exclude_origins", exclude)
        object.__setattr__(self, "include_origins", include)
        object.__setattr__(self, "source_agencies", agencies)
        object.__setattr__(self, "not_captured_before", not_before)

    def valid_no_earlier_than(self, now: datetime) -> SearchFilters:
        """These filters with `valid_at` moved up to `now` if it is earlier.

        The matcher applies retention by its own clock too, so a record past its
        retain_until is never returned, whatever instant a caller sends.
        """
        if self.valid_at >= now:
            return self
        return replace(self, valid_at=now)

    def admits_origin(self, origin: str) -> bool:
        """Whether a partition of this origin may be searched at all."""
        if origin in self.exclude_origins:
            return False
        return not self.include_origins or origin in self.include_origins

    def admits(self, provenance: RecordProvenance) -> bool:
        """Whether a record with this provenance may be returned (score aside)."""
        if not self.admits_origin(provenance.origin_jurisdiction):
            return False
        if provenance.retain_until <= self.valid_at:
            return False
        scope = self.required_consent_scope
        if scope is not None:
            if scope not in provenance.consent_scopes:
                return False
            withdrawn = provenance.consent_withdrawn_at
            if withdrawn is not None and withdrawn <= self.valid_at:
                return False
        if self.not_captured_before is not None and (
            provenance.captured_at < self.not_captured_before
        ):
            return False
        return not self.source_agencies or provenance.source_agency in self.source_agencies


@dataclass(frozen=True)
class MatchResult:
    """One candidate: exact cosine similarity (rounded to float32, as on the wire)."""

    record_id: str
    score: float
    provenance: RecordProvenance


@dataclass(frozen=True)
class PartitionSummary:
    """A partition holding live records, as ListPartitions reports it."""

    modality: str
    origin_jurisdiction: str
    record_count: int
