import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_FACE: _ClassVar[Modality]
    MODALITY_FINGERPRINT: _ClassVar[Modality]
MODALITY_UNSPECIFIED: Modality
MODALITY_FACE: Modality
MODALITY_FINGERPRINT: Modality

class Provenance(_message.Message):
    __slots__ = ("origin_jurisdiction", "source_agency", "lineage", "consent_scopes", "captured_at", "retain_until", "consent_withdrawn_at")
    ORIGIN_JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_AGENCY_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    CONSENT_SCOPES_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_FIELD_NUMBER: _ClassVar[int]
    CONSENT_WITHDRAWN_AT_FIELD_NUMBER: _ClassVar[int]
    origin_jurisdiction: str
    source_agency: str
    lineage: _containers.RepeatedScalarFieldContainer[str]
    consent_scopes: _containers.RepeatedScalarFieldContainer[str]
    captured_at: _timestamp_pb2.Timestamp
    retain_until: _timestamp_pb2.Timestamp
    consent_withdrawn_at: _timestamp_pb2.Timestamp
    def __init__(self, origin_jurisdiction: _Optional[str] = ..., source_agency: _Optional[str] = ..., lineage: _Optional[_Iterable[str]] = ..., consent_scopes: _Optional[_Iterable[str]] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., retain_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consent_withdrawn_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SearchFilters(_message.Message):
    __slots__ = ("exclude_origins", "include_origins", "required_consent_scope", "valid_at", "not_captured_before", "source_agencies")
    EXCLUDE_ORIGINS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ORIGINS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_CONSENT_SCOPE_FIELD_NUMBER: _ClassVar[int]
    VALID_AT_FIELD_NUMBER: _ClassVar[int]
    NOT_CAPTURED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_AGENCIES_FIELD_NUMBER: _ClassVar[int]
    exclude_origins: _containers.RepeatedScalarFieldContainer[str]
    include_origins: _containers.RepeatedScalarFieldContainer[str]
    required_consent_scope: str
    valid_at: _timestamp_pb2.Timestamp
    not_captured_before: _timestamp_pb2.Timestamp
    source_agencies: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, exclude_origins: _Optional[_Iterable[str]] = ..., include_origins: _Optional[_Iterable[str]] = ..., required_consent_scope: _Optional[str] = ..., valid_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_captured_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source_agencies: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("modality", "probe", "k", "min_score", "filters")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    modality: Modality
    probe: _containers.RepeatedScalarFieldContainer[float]
    k: int
    min_score: float
    filters: SearchFilters
    def __init__(self, modality: _Optional[_Union[Modality, str]] = ..., probe: _Optional[_Iterable[float]] = ..., k: _Optional[int] = ..., min_score: _Optional[float] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("record_id", "score", "provenance")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    score: float
    provenance: Provenance
    def __init__(self, record_id: _Optional[str] = ..., score: _Optional[float] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("matches", "partitions_searched")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    PARTITIONS_SEARCHED_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    partitions_searched: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ..., partitions_searched: _Optional[_Iterable[str]] = ...) -> None: ...

class CompareRequest(_message.Message):
    __slots__ = ("record_id", "modality", "probe", "filters")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    modality: Modality
    probe: _containers.RepeatedScalarFieldContainer[float]
    filters: SearchFilters
    def __init__(self, record_id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., probe: _Optional[_Iterable[float]] = ..., filters: _Optional[_Union[SearchFilters, _Mapping]] = ...) -> None: ...

class CompareResponse(_message.Message):
    __slots__ = ("found", "score", "provenance")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    found: bool
    score: float
    provenance: Provenance
    def __init__(self, found: _Optional[bool] = ..., score: _Optional[float] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class AddRequest(_message.Message):
    __slots__ = ("record_id", "modality", "template", "provenance")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    modality: Modality
    template: _containers.RepeatedScalarFieldContainer[float]
    provenance: Provenance
    def __init__(self, record_id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., template: _Optional[_Iterable[float]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class AddResponse(_message.Message):
    __slots__ = ("journal_seq",)
    JOURNAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    journal_seq: int
    def __init__(self, journal_seq: _Optional[int] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("record_id",)
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    def __init__(self, record_id: _Optional[str] = ...) -> None: ...

class RemoveResponse(_message.Message):
    __slots__ = ("removed", "journal_seq")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    JOURNAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    journal_seq: int
    def __init__(self, removed: _Optional[bool] = ..., journal_seq: _Optional[int] = ...) -> None: ...

class GetPurgeStatusRequest(_message.Message):
    __slots__ = ("journal_seq",)
    JOURNAL_SEQ_FIELD_NUMBER: _ClassVar[int]
    journal_seq: int
    def __init__(self, journal_seq: _Optional[int] = ...) -> None: ...

class GetPurgeStatusResponse(_message.Message):
    __slots__ = ("purged", "generation", "purged_at", "live_generation")
    PURGED_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    PURGED_AT_FIELD_NUMBER: _ClassVar[int]
    LIVE_GENERATION_FIELD_NUMBER: _ClassVar[int]
    purged: bool
    generation: int
    purged_at: _timestamp_pb2.Timestamp
    live_generation: int
    def __init__(self, purged: _Optional[bool] = ..., generation: _Optional[int] = ..., purged_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., live_generation: _Optional[int] = ...) -> None: ...

class ListPartitionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Partition(_message.Message):
    __slots__ = ("modality", "origin_jurisdiction", "record_count")
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    modality: Modality
    origin_jurisdiction: str
    record_count: int
    def __init__(self, modality: _Optional[_Union[Modality, str]] = ..., origin_jurisdiction: _Optional[str] = ..., record_count: _Optional[int] = ...) -> None: ...

class ListPartitionsResponse(_message.Message):
    __slots__ = ("partitions",)
    PARTITIONS_FIELD_NUMBER: _ClassVar[int]
    partitions: _containers.RepeatedCompositeFieldContainer[Partition]
    def __init__(self, partitions: _Optional[_Iterable[_Union[Partition, _Mapping]]] = ...) -> None: ...
