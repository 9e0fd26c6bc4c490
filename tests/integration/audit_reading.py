"""Reads the audit log's JSON Lines directly, as an auditor without the broker's code would."""

import base64
import json
from pathlib import Path
from typing import Any


def entries(audit_dir: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for segment in sorted(audit_dir.glob("*.jsonl")):
        lines.extend(json.loads(line)["entry"] for line in segment.read_text().splitlines() if line)
    return lines


def receipt_claims(jws: str) -> dict[str, Any]:
    payload = jws.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
