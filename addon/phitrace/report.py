"""Build the HTML report from the database.

The report is one self-contained file: inline CSS, no scripts or assets
fetched from anywhere.  Templates live in ``reports/``; one Jinja
``Environment`` with autoescaping and ``StrictUndefined`` renders them, so a
hostile value captured from a payload always renders as text.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import sqlite_utils
from markupsafe import Markup, escape

from phitrace import __version__
from phitrace.model import SEVERITIES, severity_rank
from phitrace.resources import data_dir
from phitrace.store import now_iso


@dataclass
class FlowView:
    """One flagged flow with its findings, as the report shows it."""

    flow: dict[str, Any]
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class VendorView:
    """Everything one vendor received."""

    vendor: str
    name: str
    category: str
    flows: int = 0
    hosts: set[str] = field(default_factory=set)
    severities: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)


@dataclass
class ReportContext:
    """What the report template receives (documented so templates can rely on it)."""

    generated_at: str
    phitrace_version: str
    sessions: list[dict[str, Any]]
    severity_counts: dict[str, int]
    vendors: list[VendorView]
    flows: list[FlowView]
    total_flows: int
    total_findings: int


def _session_filter(session: int | None) -> tuple[str, list[Any]]:
    return ("where session_id = ?", [session]) if session is not None else ("", [])


def build_context(db: sqlite_utils.Database, session: int | None = None) -> ReportContext:
    """Read sessions, flows and findings into the report's context."""
    where, params = _session_filter(session)
    sessions = list(
        db.query(
            "select * from sessions"
            + (" where id = ?" if session is not None else "")
            + " order by id",
            params,
        )
    )
    flows = {
        row["id"]: FlowView(row)
        for row in db.query(f"select * from flows {where} order by id", params)
    }
    for finding in db.query(f"select * from findings {where} order by id", params):
        view = flows.get(finding["flow_id"])
        if view is not None:
            view.findings.append(finding)
    vendors: dict[str, VendorView] = {}
    severity_counts = dict.fromkeys(SEVERITIES, 0)
    for view in flows.values():
        row = view.flow
        key = row["vendor"] or "unknown third party"
        vendor = vendors.setdefault(
            key, VendorView(key, row["vendor_name"] or row["host"], row["tracker_category"] or "")
        )
        vendor.flows += 1
        vendor.hosts.add(row["host"])
        for finding in view.findings:
            severity_counts[finding["severity"]] += 1
            vendor.severities[finding["severity"]] += 1
            vendor.categories[finding["category"]] += 1
        if not view.findings:
            severity_counts["info"] += 1
            vendor.severities["info"] += 1
    ordered = sorted(
        flows.values(),
        key=lambda v: (severity_rank(v.flow["severity"] or "info"), v.flow["id"]),
    )
    return ReportContext(
        generated_at=now_iso(),
        phitrace_version=__version__,
        sessions=sessions,
        severity_counts=severity_counts,
        vendors=sorted(
            vendors.values(),
            key=lambda v: (-sum(n for s, n in v.severities.items() if s != "info"), v.vendor),
        ),
        flows=[v for v in ordered if v.findings or v.flow["severity"]],
        total_flows=len(flows),
        total_findings=sum(len(v.findings) for v in flows.values()),
    )


def highlight(value: str, term: str, limit: int = 600) -> Markup:
    """Escape ``value`` and wrap each case-insensitive occurrence of ``term`` in ``<mark>``.

    This is the one place where captured text becomes markup: every piece is
    escaped first, so payload content can never inject HTML.
    """
    text = value if len(value) <= limit else value[:limit] + "…"
    if not term:
        return escape(text)
    pattern = re.compile(re.escape(term).replace(r"\ ", r"(?:[\s_+-]|%20)+"), re.IGNORECASE)
    pieces: list[str] = []
    last = 0
    for hit in pattern.finditer(text):
        pieces.append(str(escape(text[last : hit.start()])))
        pieces.append(f"<mark>{escape(hit.group(0))}</mark>")
        last = hit.end()
    pieces.append(str(escape(text[last:])))
    return Markup("".join(pieces))


def environment() -> jinja2.Environment:
    """The one Jinja environment for reports: autoescaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("reports"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["highlight"] = highlight
    return env


def render_html(context: ReportContext) -> str:
    """Render the HTML report for a context."""
    return environment().get_template("report.html.j2").render(report=context)


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only: reports carry health data."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
