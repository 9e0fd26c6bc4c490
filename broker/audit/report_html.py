"""The transparency report as one self-contained HTML page: inline CSS, inline SVG bar charts
and the same counts as tables. No script, no external asset, no link: it can be published,
archived and opened offline as it is. Every label is escaped (labels came from requests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["render_html"]

BAR_HEIGHT = 18
LABEL_WIDTH = 220
CHART_WIDTH = 640
# Series of a stacked bar, in drawing order, with their CSS classes.
ALLOW_DENY = (("allowed", "ok"), ("denied", "no"))

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.2rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}tr:nth-child(even){background:#f3f3f3}
svg text{font:12px system-ui,sans-serif;fill:#1b1b1b}
.ok{fill:#2f7d4f}.no{fill:#b3362f}.n{fill:#3a5f9f}.key span{display:inline-block;width:.8em;
height:.8em;margin:0 .3em 0 1em}.key .ok{background:#2f7d4f}.key .no{background:#b3362f}
.meta{color:#555;font-size:.9rem}
"""


def _bars(rows: Sequence[tuple[str, Sequence[tuple[int, str]]]], title: str) -> str:
    """A horizontal (stacked) bar chart as inline SVG; rows are (label, [(value, class)])."""
    if not rows:
        return "<p>None in this period.</p>"
    peak = max(sum(v for v, _ in parts) for _, parts in rows) or 1
    scale = (CHART_WIDTH - LABEL_WIDTH - 60) / peak
    height = len(rows) * (BAR_HEIGHT + 6) + 6
    out = [
        f'<svg role="img" aria-label="{escape(title)}" width="{CHART_WIDTH}" '
        f'height="{height}" viewBox="0 0 {CHART_WIDTH} {height}">'
    ]
    for i, (label, parts) in enumerate(rows):
        y = 6 + i * (BAR_HEIGHT + 6)
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
        )
        x = float(LABEL_WIDTH)
        for value, css in parts:
            width = value * scale
            if width > 0:
                out.append(
                    f'<rect class="{css}" x="{x:.1f}" y="{y}" width="{width:.1f}" '
                    f'height="{BAR_HEIGHT}"><title>{escape(label)}: {value}</title></rect>'
                )
            x += width
        total = sum(v for v, _ in parts)
        out.append(f'<text x="{x + 6:.1f}" y="{y + 13}">{total}</text>')
    out.append("</svg>")
    return "".join(out)


def _allow_deny_rows(
    table: Mapping[str, Mapping[str, int]],
) -> list[tuple[str, list[tuple[int, str]]]]:
    rows = [
        (label, [(counts.get(k, 0), css) for k, css in ALLOW_DENY])
        for label, counts in table.items()
    ]
    return sorted(rows, key=lambda r: -sum(v for v, _ in r[1]))


def _count_rows(counts: Mapping[str, int]) -> list[tuple[str, list[tuple[int, str]]]]:
    return [(label, [(n, "n")]) for label, n in sorted(counts.items(), key=lambda kv: -kv[1])]


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return ""
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


_KEY = '<p class="key"><span class="ok"></span>allowed<span class="no"></span>denied</p>'


def render_html(report: Mapping[str, Any]) -> str:
    """The page for a report document (TransparencyReport.to_json())."""
    totals, periods, log, scope = (
        report["totals"],
        report["periods"],
        report["log"],
        report["scope"],
    )
    span = f"{scope['from'] or 'the first entry'} to {scope['to'] or 'the last entry'}"
    period_rows = [
        (p["period"], [(p["searches"] - p["searches_denied"], "ok"), (p["searches_denied"], "no")])
        for p in periods
    ]
    origins = totals["by_origin"]
    sections = [
        f"<h1>Biometric search transparency report</h1>"
        f'<p class="meta">Log {escape(str(log["origin"]))}: {log["entries"]} entries, verified '
        f"(Merkle root {escape(log['root'])}). Decisions from {escape(span)}, by "
        f"{escape(scope['by'])}. Counts only: no names, case numbers, legal references or "
        f"record identifiers.</p>",
        "<h2>Totals</h2>",
        _table(
            ("measure", "count"),
            [
                ("searches (identify and verify)", totals["searches"]),
                ("searches denied", totals["searches_denied"]),
                ("searches that released records", totals["releases"]),
                ("records released", totals["records_released"]),
                ("records withheld by provenance rules", totals["records_withheld"]),
                ("decisions (all operations)", totals["decisions"]),
                ("decisions denied", totals["denied"]),
            ],
        ),
        f"<h2>Searches per {escape(scope['by'])}</h2>",
        _KEY + _bars(period_rows, "searches per period"),
        _table(
            ("period", "searches", "denied", "releases", "records released"),
            [
                (
                    p["period"],
                    p["searches"],
                    p["searches_denied"],
                    p["releases"],
                    p["records_released"],
                )
                for p in periods
            ],
        ),
        "<h2>Records released per origin</h2>",
        _bars(
            [(o, [(c["records_released"], "n")]) for o, c in origins.items()],
            "records released per origin",
        ),
        _table(
            ("origin", "searches reaching it", "records released"),
            [(o, c["searches"], c["records_released"]) for o, c in origins.items()],
        ),
        "<h2>Decisions by purpose</h2>",
        _KEY + _bars(_allow_deny_rows(totals["by_purpose"]), "decisions by purpose"),
        "<h2>Decisions by agency</h2>",
        _KEY + _bars(_allow_deny_rows(totals["by_agency"]), "decisions by agency"),
        "<h2>Decisions by operation</h2>",
        _KEY + _bars(_allow_deny_rows(totals["by_operation"]), "decisions by operation"),
        "<h2>Why calls were denied</h2>",
        _bars(_count_rows(totals["deny_reasons"]), "deny reasons"),
        "<h2>Why records were withheld</h2>",
        _bars(_count_rows(totals["withheld_reasons"]), "withholding reasons"),
        "<h2>Outcome of forwarded calls</h2>",
        _bars(_count_rows(totals["outcomes"]), "outcomes"),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Biometric search transparency report</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>\n"
    )
