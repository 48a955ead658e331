"""A :class:`~phitrace.report.compare.Comparison` as Markdown, JSON or HTML.

Like the other CI formats, these carry no captured values: vendors,
endpoints (host and path, never the query), data categories and counts.
Markdown and HTML list only what differs and count the rest; JSON lists
every row, each with its change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from phitrace import __version__
from phitrace.model import SEVERITIES
from phitrace.report.compare import Comparison, Row, Section, SessionSide, Tally
from phitrace.report.compared import CHANGE_LABELS, SECTIONS, counts_line
from phitrace.report.formats import md_code, md_text
from phitrace.report.html import environment, style_policy


def _severities(side: SessionSide) -> str:
    return ", ".join(f"{side.by_severity.get(s, 0)} {s}" for s in SEVERITIES if s != "info")


def _md_side(name: str, side: SessionSide) -> str:
    s = side.session
    label = f" {md_code(s.label)}" if s.label else ""
    consent = f", consent: {md_code(s.consent)}" if s.consent else ""
    consent += f", GPC: {md_text(s.gpc)}" if s.gpc else ""
    return (
        f"- **{name}:** session {s.id}{label} ({md_text(s.source)}, "
        f"{md_text(s.started_at)} – {md_text(s.ended_at or 'still running')}{consent}): "
        f"{side.tracker_flows} tracker flows, {side.findings} findings ({_severities(side)})"
    )


def _md_tally(tally: Tally | None) -> str:
    if tally is None:
        return "– | – | –"
    return f"{tally.flows} | {tally.findings} | {tally.worst}"


def _md_section(section: Section) -> list[str]:
    spec = SECTIONS[section.name]
    lines = ["", f"## {spec.title}", "", counts_line(section)]
    rows = [row for row in section.rows if row.change != "same"]
    if not rows:
        return lines
    extra = f" {spec.column} |" if spec.column else ""
    lines += [
        "",
        f"| change | vendor |{extra} A flows | A findings | A worst | "
        "B flows | B findings | B worst |",
        "|---|---|" + ("---|" if spec.column else "") + "---|---|---|---|---|---|",
    ]
    for row in rows:
        cell = f" {md_code(row.key[1])} |" if spec.column else ""
        lines.append(
            f"| {CHANGE_LABELS[row.change]} | {md_text(row.label)} |{cell} "
            f"{_md_tally(row.a)} | {_md_tally(row.b)} |"
        )
    return lines


def to_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown: both sessions, then what differs in each section."""
    lines = [
        "# phitrace comparison",
        "",
        _md_side("A", comparison.a),
        _md_side("B", comparison.b),
    ]
    for section in comparison.sections:
        lines += _md_section(section)
    return "\n".join(lines) + "\n"


def _json_side(side: SessionSide) -> dict[str, Any]:
    s = side.session
    return {
        "id": s.id,
        "label": s.label,
        "source": s.source,
        "consent": s.consent,
        "gpc": s.gpc,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "tracker_flows": side.tracker_flows,
        "findings": side.findings,
        "by_severity": side.by_severity,
    }


def _json_tally(tally: Tally | None) -> dict[str, Any] | None:
    if tally is None:
        return None
    return {"flows": tally.flows, "findings": tally.findings, "worst": tally.worst}


def _json_row(section: str, row: Row) -> dict[str, Any]:
    record: dict[str, Any] = {"vendor": row.key[0], "name": row.label}
    if SECTIONS[section].column:
        record[SECTIONS[section].column] = row.key[1]
    record.update(change=row.change, a=_json_tally(row.a), b=_json_tally(row.b))
    return record


def to_json(comparison: Comparison) -> str:
    """The comparison as JSON: both sessions and every row of each section with its change."""
    document: dict[str, Any] = {
        "format": "phitrace-comparison",
        "version": 1,
        "phitrace_version": __version__,
        "a": _json_side(comparison.a),
        "b": _json_side(comparison.b),
    }
    for section in comparison.sections:
        document[section.name] = {
            "counts": section.counts,
            "rows": [_json_row(section.name, row) for row in section.rows],
        }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def to_html(comparison: Comparison) -> str:
    """The comparison as one self-contained HTML page (inline style, no script)."""
    env = environment()
    return env.get_template("compare.html.j2").render(
        comparison=comparison,
        sections=SECTIONS,
        changes=CHANGE_LABELS,
        counts_line=counts_line,
        csp=style_policy(env),
        severities=_severities,
    )


COMPARE_FORMATS: dict[str, Callable[[Comparison], str]] = {
    "md": to_markdown,
    "json": to_json,
    "html": to_html,
}
