"""Helpers the audit tests share (a uniquely named module, imported by the test files)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from broker.audit.log import AuditLog, LogPosition
from broker.keys import SigningKey
from broker.models import LegalBasis, Reason
from broker.receipts import ReceiptClaims, issue_receipt

VECTORS = Path(__file__).parent / "vectors"
ORIGIN = "broker.test/audit"


def load_vector(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


class FakeClock:
    """A clock that advances one second per reading: entries get distinct, ordered times."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def claims_for(
    position: LogPosition, *, decision: str = "allow", jti: str = "r-1"
) -> ReceiptClaims:
    return ReceiptClaims(
        iss="broker-test",
        iat=1767225600,
        jti=jti,
        sub="officer-17",
        agency="agency-a",
        op="identify",
        purpose="criminal-investigation",
        legal_basis=LegalBasis("statute", "act-12"),
        decision=decision,
        reasons=(Reason("agreement", "agreement A-7 allows it"),),
        obligations={"max_results": 5, "exclude_origins": [], "human_review_required": False},
        policy_revision="ab" * 32,
        input_digest="cd" * 32,
        log_seq=position.seq,
        log_prev=position.prev,
    )


def decision_body(key: SigningKey, *, jti: str = "r-1") -> Callable[[LogPosition], dict[str, Any]]:
    """What the pipeline does: sign a receipt naming the entry's own position."""

    def make(position: LogPosition) -> dict[str, Any]:
        receipt = issue_receipt(key, claims_for(position, jti=jti))
        return {"receipt": receipt, "decision": "allow"}

    return make


def open_log(directory: Path, key: SigningKey, **kwargs: Any) -> AuditLog:
    kwargs.setdefault("clock", FakeClock())
    return AuditLog.open(directory, key, origin=ORIGIN, **kwargs)


def fill_log(directory: Path, key: SigningKey, decisions: int = 10) -> None:
    """A closed log: key entry, then decision and outcome entries alternating."""

    def outcome(position: LogPosition) -> dict[str, Any]:
        return {"decision_seq": position.seq - 1, "released": position.seq // 2}

    with open_log(directory, key) as log:
        for i in range(decisions):
            if i % 2:
                log.append("outcome", outcome)
            else:
                log.append("decision", decision_body(key, jti=f"r-{i}"))
