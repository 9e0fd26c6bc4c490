"""The transparency report: the counts oversight asks for, per day or month, as JSON and as a
self-contained HTML page, and none of the personal data the log holds."""

from __future__ import annotations

import argparse
import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.audit.log import LogPosition
from broker.audit.report import build_report
from broker.audit.report_html import render_html
from broker.cli import audit as audit_cli
from broker.errors import VerificationError
from broker.keys import SigningKey
from broker.models import LegalBasis, Reason
from broker.receipts import ReceiptClaims, issue_receipt
from tests.audit.audit_helpers import open_log

# Personal data and identifiers the log holds and no report may show.
OFFICERS = ("sa.morgan", "det.alvarez", "io.chen")
LEGAL_REFERENCES = ("OR-CIRC-2026-1187", "I-200-2026-5531")
RECORD_IDS = ("riverton-pd:p000:face", "us-fbi:p012:face")
FREE_TEXT_PURPOSE = "find Jane Q. Doe at 12 Elm St"
INJECTED_PURPOSE = "<script>alert(1)</script>"


def _hash_id(record_id: str) -> str:
    return hashlib.sha256(b"record-id:" + record_id.encode()).hexdigest()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 30, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _decide(
    log: Any,
    key: SigningKey,
    *,
    officer: str,
    agency: str,
    purpose: str,
    reference: str,
    allow: bool,
    op: str = "identify",
    reasons: tuple[str, ...] = (),
) -> int:
    def body(position: LogPosition) -> dict[str, Any]:
        claims = ReceiptClaims(
            iss="report-broker",
            iat=1767225600,
            jti=f"jti-{position.seq}",
            sub=officer,
            agency=agency,
            op=op,
            purpose=purpose,
            legal_basis=LegalBasis("warrant", reference),
            decision="allow" if allow else "deny",
            reasons=tuple(Reason(code, f"{officer} may not") for code in reasons),
            policy_revision="ab" * 32,
            input_digest="cd" * 32,
            log_seq=position.seq,
            log_prev=position.prev,
        )
        return {"receipt": issue_receipt(key, claims)}

    seq: int = log.append("decision", body).seq
    return seq


def _outcome(log: Any, decision: int, released: dict[str, list[str]], withheld: int) -> None:
    ids = [rid for rids in released.values() for rid in rids]
    body = {
        "decision_seq": decision,
        "status": "ok",
        "released": [_hash_id(rid) for rid in ids],
        "released_by_origin": {origin: len(rids) for origin, rids in released.items()},
        "withheld_count": withheld,
        "withheld_reasons": {"sanctuary_policy": withheld} if withheld else {},
        "partitions_searched": ["face/US", "face/US-OR-RIVERTON"],
    }
    log.append("outcome", lambda p: body)


@pytest.fixture
def log_dir(tmp_path: Path, key: SigningKey) -> Path:
    clock = Clock()
    directory = tmp_path / "audit"
    with open_log(directory, key, clock=clock) as log:
        fbi = {"officer": OFFICERS[0], "agency": "us-fbi", "reference": LEGAL_REFERENCES[0]}
        seq = _decide(log, key, purpose="criminal_investigation", allow=True, **fbi)
        _outcome(log, seq, {"US-OR-RIVERTON": [RECORD_IDS[0]], "US": [RECORD_IDS[1]]}, 1)
        clock.now = datetime(2026, 1, 31, 9, tzinfo=UTC)
        hsi = {"officer": OFFICERS[2], "agency": "us-hsi", "reference": LEGAL_REFERENCES[1]}
        seq = _decide(log, key, purpose="immigration_enforcement", allow=True, **hsi)
        _outcome(log, seq, {}, 2)
        seq = _decide(
            log, key, purpose=FREE_TEXT_PURPOSE, allow=False, reasons=("unknown_purpose",), **hsi
        )
        clock.now = datetime(2026, 2, 2, 9, tzinfo=UTC)
        rpd = {"officer": OFFICERS[1], "agency": "riverton-pd", "reference": LEGAL_REFERENCES[0]}
        _decide(
            log, key, purpose=INJECTED_PURPOSE, allow=False, reasons=("unknown_purpose",), **rpd
        )
        _decide(
            log,
            key,
            purpose="criminal_investigation",
            allow=False,
            reasons=("no_agreement", "not_in_scope"),
            **rpd,
        )
        seq = _decide(log, key, purpose="criminal_investigation", allow=True, **rpd)
        _outcome(log, seq, {"US-OR-RIVERTON": [RECORD_IDS[0]]}, 0)
        seq = _decide(log, key, purpose="enrolment", allow=True, op="enroll", **rpd)
    return directory


def test_counts_per_month(log_dir: Path) -> None:
    report = build_report(log_dir, granularity="month").to_json()
    assert report["format"] == "biometric-broker/transparency-report@v1"
    assert report["log"]["verified"] is True and report["log"]["entries"] == 11
    january, february = report["periods"]
    assert january["period"] == "2026-01" and february["period"] == "2026-02"
    assert january["searches"] == 3 and january["searches_denied"] == 1
    assert january["releases"] == 1 and january["records_released"] == 2
    assert january["records_withheld"] == 3
    assert january["by_origin"] == {
        "US": {"searches": 2, "records_released": 1},
        "US-OR-RIVERTON": {"searches": 2, "records_released": 1},
    }
    assert january["by_agency"] == {
        "us-fbi": {"allowed": 1, "denied": 0},
        "us-hsi": {"allowed": 1, "denied": 1},
    }
    assert february["searches"] == 3 and february["searches_denied"] == 2
    assert february["decisions"] == 4 and february["by_operation"]["enroll"] == {
        "allowed": 1,
        "denied": 0,
    }
    assert february["deny_reasons"] == {"no_agreement": 1, "not_in_scope": 1, "unknown_purpose": 1}
    totals = report["totals"]
    assert totals["searches"] == 6 and totals["records_released"] == 3
    assert totals["withheld_reasons"] == {"sanctuary_policy": 3}
    assert totals["outcomes"] == {"ok": 3}
    # Free-text purposes are never named: only what the policy accepted at least once.
    assert totals["by_purpose"] == {
        "(unrecognised)": {"allowed": 0, "denied": 2},
        "criminal_investigation": {"allowed": 2, "denied": 1},
        "enrolment": {"allowed": 1, "denied": 0},
        "immigration_enforcement": {"allowed": 1, "denied": 0},
    }


def test_per_day_and_within_dates(log_dir: Path) -> None:
    report = build_report(
        log_dir, granularity="day", start=date(2026, 1, 31), end=date(2026, 1, 31)
    ).to_json()
    assert [p["period"] for p in report["periods"]] == ["2026-01-31"]
    assert report["totals"]["searches"] == 2
    assert report["totals"]["records_withheld"] == 2  # the outcome of that day's decision
    assert report["scope"] == {"from": "2026-01-31", "to": "2026-01-31", "by": "day"}
    with pytest.raises(ValueError, match="before"):
        build_report(log_dir, start=date(2026, 2, 1), end=date(2026, 1, 1))


def _personal_strings() -> list[str]:
    return [
        *OFFICERS,
        *LEGAL_REFERENCES,
        *RECORD_IDS,
        *(_hash_id(r) for r in RECORD_IDS),
        "Jane",
        "Elm St",
        "jti-",
        "may not",  # reason messages (free text) never appear, only codes
    ]


def test_no_personal_data_in_json_or_html(log_dir: Path) -> None:
    report = build_report(log_dir, granularity="day").to_json()
    text = json.dumps(report)
    page = render_html(report)
    for needle in _personal_strings():
        assert needle not in text, needle
        assert needle not in page, needle
    assert "<script" not in page  # the injected purpose is neither named nor executable
    assert "alert(" not in page and "alert(" not in text


def test_the_html_page_is_self_contained(log_dir: Path) -> None:
    page = render_html(build_report(log_dir).to_json())
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") >= 6  # the charts are inline SVG
    for external in ("src=", "href=", "url(", "http:", "https:", "@import", "<link", "<script"):
        assert external not in page, external
    assert "criminal_investigation" in page and "US-OR-RIVERTON" in page


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="broker")
    audit_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code: int = args.func(args)
    return code


def test_cli_report_writes_json_and_html(
    tmp_path: Path, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "report.html"
    assert run("audit", "report", str(log_dir), "--by", "day", "--html", str(html)) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["period"] for p in report["periods"]] == ["2026-01-30", "2026-01-31", "2026-02-02"]
    assert "Biometric search transparency report" in html.read_text()
    out = tmp_path / "r.json"
    assert run("audit", "report", str(log_dir), "--from", "2026-02-01", "--out", str(out)) == 0
    assert json.loads(out.read_text())["totals"]["searches"] == 3


def test_cli_report_refuses_a_tampered_log(
    tmp_path: Path, log_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = log_dir / "log.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"withheld_count":2', b'"withheld_count":0'))
    html = tmp_path / "report.html"
    assert run("audit", "report", str(log_dir), "--html", str(html)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("FAIL: entry ")
    assert not html.exists()
    with pytest.raises(VerificationError):
        build_report(log_dir)
    with pytest.raises(SystemExit):
        run("audit", "report", str(log_dir), "--from", "January")
