"""RFC 3339 timestamps as the policy sees them: UTC, 'Z' suffix, whole seconds or finer."""

from __future__ import annotations

from datetime import UTC, datetime


def format_utc(moment: datetime) -> str:
    """Formats an aware datetime as RFC 3339 in UTC, e.g. 2026-11-23T10:00:00Z."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: a timestamp must carry its time zone")
    utc = moment.astimezone(UTC)
    text = utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse(text: str) -> datetime:
    """Parses an RFC 3339 timestamp; the offset is required."""
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone offset")
    return moment.astimezone(UTC)
