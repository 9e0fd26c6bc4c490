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

class LegalBasis(_message.Message):
    __slots__ = ("type", "reference")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    type: str
    reference: str
    def __init__(self, type: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class Justification(_message.Message):
    __slots__ = ("purpose", "legal_basis", "case_id", "offence")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    OFFENCE_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    legal_basis: LegalBasis
    case_id: str
    offence: str
    def __init__(self, purpose: _Optional[str] = ..., legal_basis: _Optional[_Union[LegalBasis, _Mapping]] = ..., case_id: _Optional[str] = ..., offence: _Optional[str] = ...) -> None: ...

class Receipt(_message.Message):
    __slots__ = ("jws", "log_seq")
    JWS_FIELD_NUMBER: _ClassVar[int]
    LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    jws: str
    log_seq: int
    def __init__(self, jws: _Optional[str] = ..., log_seq: _Optional[int] = ...) -> None: ...

class Reason(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class DenialDetails(_message.Message):
    __slots__ = ("receipt", "reasons")
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    receipt: Receipt
    reasons: _containers.RepeatedCompositeFieldContainer[Reason]
    def __init__(self, receipt: _Optional[_Union[Receipt, _Mapping]] = ..., reasons: _Optional[_Iterable[_Union[Reason, _Mapping]]] = ...) -> None: ...

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

class IdentifyRequest(_message.Message):
    __slots__ = ("justification", "modality", "probe", "max_results", "target_origins", "filters")
    class FiltersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    MAX_RESULTS_FIELD_NUMBER: _ClassVar[int]
    TARGET_ORIGINS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    justification: Justification
    modality: Modality
    probe: _containers.RepeatedScalarFieldContainer[float]
    max_results: int
    target_origins: _containers.RepeatedScalarFieldContainer[str]
    filters: _containers.ScalarMap[str, str]
    def __init__(self, justification: _Optional[_Union[Justification, _Mapping]] = ..., modality: _Optional[_Union[Modality, str]] = ..., probe: _Optional[_Iterable[float]] = ..., max_results: _Optional[int] = ..., target_origins: _Optional[_Iterable[str]] = ..., filters: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("record_id", "score", "origin_jurisdiction", "source_agency")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_AGENCY_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    score: float
    origin_jurisdiction: str
    source_agency: str
    def __init__(self, record_id: _Optional[str] = ..., score: _Optional[float] = ..., origin_jurisdiction: _Optional[str] = ..., source_agency: _Optional[str] = ...) -> None: ...

class IdentifyResponse(_message.Message):
    __slots__ = ("candidates", "decision_receipt", "outcome_log_seq", "withheld", "human_review_required")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    DECISION_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    WITHHELD_FIELD_NUMBER: _ClassVar[int]
    HUMAN_REVIEW_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    decision_receipt: Receipt
    outcome_log_seq: int
    withheld: int
    human_review_required: bool
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., decision_receipt: _Optional[_Union[Receipt, _Mapping]] = ..., outcome_log_seq: _Optional[int] = ..., withheld: _Optional[int] = ..., human_review_required: _Optional[bool] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("justification", "record_id", "modality", "probe")
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    justification: Justification
    record_id: str
    modality: Modality
    probe: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, justification: _Optional[_Union[Justification, _Mapping]] = ..., record_id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., probe: _Optional[_Iterable[float]] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("match", "score", "released", "decision_receipt", "outcome_log_seq")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    DECISION_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    match: bool
    score: float
    released: bool
    decision_receipt: Receipt
    outcome_log_seq: int
    def __init__(self, match: _Optional[bool] = ..., score: _Optional[float] = ..., released: _Optional[bool] = ..., decision_receipt: _Optional[_Union[Receipt, _Mapping]] = ..., outcome_log_seq: _Optional[int] = ...) -> None: ...

class EnrollRequest(_message.Message):
    __slots__ = ("justification", "record_id", "modality", "template", "provenance")
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    justification: Justification
    record_id: str
    modality: Modality
    template: _containers.RepeatedScalarFieldContainer[float]
    provenance: Provenance
    def __init__(self, justification: _Optional[_Union[Justification, _Mapping]] = ..., record_id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., template: _Optional[_Iterable[float]] = ..., provenance: _Optional[_Union[Provenance, _Mapping]] = ...) -> None: ...

class EnrollResponse(_message.Message):
    __slots__ = ("record_id", "decision_receipt", "outcome_log_seq")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    decision_receipt: Receipt
    outcome_log_seq: int
    def __init__(self, record_id: _Optional[str] = ..., decision_receipt: _Optional[_Union[Receipt, _Mapping]] = ..., outcome_log_seq: _Optional[int] = ...) -> None: ...

class ExpungeRequest(_message.Message):
    __slots__ = ("justification", "record_id")
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    justification: Justification
    record_id: str
    def __init__(self, justification: _Optional[_Union[Justification, _Mapping]] = ..., record_id: _Optional[str] = ...) -> None: ...

class ExpungeResponse(_message.Message):
    __slots__ = ("removed", "decision_receipt", "outcome_log_seq")
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    DECISION_RECEIPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    removed: bool
    decision_receipt: Receipt
    outcome_log_seq: int
    def __init__(self, removed: _Optional[bool] = ..., decision_receipt: _Optional[_Union[Receipt, _Mapping]] = ..., outcome_log_seq: _Optional[int] = ...) -> None: ...

class GetSigningKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("kid", "kty", "crv", "x", "alg", "active")
    KID_FIELD_NUMBER: _ClassVar[int]
    KTY_FIELD_NUMBER: _ClassVar[int]
    CRV_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    ALG_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    kid: str
    kty: str
    crv: str
    x: str
    alg: str
    active: bool
    def __init__(self, kid: _Optional[str] = ..., kty: _Optional[str] = ..., crv: _Optional[str] = ..., x: _Optional[str] = ..., alg: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class GetSigningKeysResponse(_message.Message):
    __slots__ = ("keys", "jwks_json")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[SigningKey]
    jwks_json: str
    def __init__(self, keys: _Optional[_Iterable[_Union[SigningKey, _Mapping]]] = ..., jwks_json: _Optional[str] = ...) -> None: ...

class GetCheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCheckpointResponse(_message.Message):
    __slots__ = ("checkpoint", "origin", "tree_size", "root_hash")
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ROOT_HASH_FIELD_NUMBER: _ClassVar[int]
    checkpoint: str
    origin: str
    tree_size: int
    root_hash: bytes
    def __init__(self, checkpoint: _Optional[str] = ..., origin: _Optional[str] = ..., tree_size: _Optional[int] = ..., root_hash: _Optional[bytes] = ...) -> None: ...

class GetInclusionProofRequest(_message.Message):
    __slots__ = ("log_seq", "receipt_jws", "tree_size")
    LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_JWS_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    log_seq: int
    receipt_jws: str
    tree_size: int
    def __init__(self, log_seq: _Optional[int] = ..., receipt_jws: _Optional[str] = ..., tree_size: _Optional[int] = ...) -> None: ...

class GetInclusionProofResponse(_message.Message):
    __slots__ = ("log_seq", "tree_size", "leaf_hash", "proof", "checkpoint", "entry", "tlog_proof")
    LOG_SEQ_FIELD_NUMBER: _ClassVar[int]
    TREE_SIZE_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    TLOG_PROOF_FIELD_NUMBER: _ClassVar[int]
    log_seq: int
    tree_size: int
    leaf_hash: bytes
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: str
    entry: bytes
    tlog_proof: str
    def __init__(self, log_seq: _Optional[int] = ..., tree_size: _Optional[int] = ..., leaf_hash: _Optional[bytes] = ..., proof: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[str] = ..., entry: _Optional[bytes] = ..., tlog_proof: _Optional[str] = ...) -> None: ...

class GetConsistencyProofRequest(_message.Message):
    __slots__ = ("old_size", "new_size")
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    old_size: int
    new_size: int
    def __init__(self, old_size: _Optional[int] = ..., new_size: _Optional[int] = ...) -> None: ...

class GetConsistencyProofResponse(_message.Message):
    __slots__ = ("old_size", "new_size", "proof", "checkpoint")
    OLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    old_size: int
    new_size: int
    proof: _containers.RepeatedScalarFieldContainer[bytes]
    checkpoint: str
    def __init__(self, old_size: _Optional[int] = ..., new_size: _Optional[int] = ..., proof: _Optional[_Iterable[bytes]] = ..., checkpoint: _Optional[str] = ...) -> None: ...
