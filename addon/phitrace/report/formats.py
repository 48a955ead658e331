"""Findings in the formats people and machines read: HTML, JSON, CSV, Markdown, JUnit, SARIF.

Each format is a free function from :class:`~phitrace.store.reader.Findings` to
text, and :data:`FORMATS` maps a format's name to its function, so adding a
format is one function and one line.  The formats that can be written while
the findings are read from the database (JSON, CSV, SARIF) are also in
:data:`STREAMED`, as writers (see :mod:`phitrace.report.exports`).

JSON and CSV are complete (every finding with its captured value).  The
formats meant for CI systems and pull requests (Markdown, JUnit, SARIF) are
often readable by many people, so they carry no captured values: only the
vendor, the data category, the term or rule that matched, the field path,
the page path and the request's fingerprint.  They list each distinct leak
(one fingerprint, see :mod:`phitrace.gate.baseline`) once, with how often it was seen.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from phitrace import __version__
from phitrace.gate.baseline import FAIL_LEVELS, Group, field_path, group
from phitrace.model import SEVERITIES
from phitrace.report.accepted import policy_counts, split_accepted
from phitrace.report.documents import leak_title
from phitrace.report.exports import (
    FINDING_FIELDS as FINDING_FIELDS,
)
from phitrace.report.exports import (
    StreamedExport,
    to_csv,
    to_json,
    write_csv_export,
    write_json_export,
)
from phitrace.report.html import context_for, render_html
from phitrace.report.loggedin import md_logged_in
from phitrace.report.mdtext import md_code, md_text
from phitrace.report.parties import PartyView, party_views
from phitrace.report.sarif import to_sarif, write_sarif
from phitrace.resources import data_dir, load_yaml
from phitrace.store.reader import Findings, Leak, url_parts

ExportFunction = Callable[[Findings], str]

MARKDOWN_ROWS = 50
"""Distinct leaks listed in a Markdown comment; the rest are counted."""

ICONS = {"high": "🔴", "medium": "🟠", "low": "🔵", "info": "⚪"}


def to_html(findings: Findings) -> str:
    """The self-contained HTML report."""
    return render_html(context_for(findings))


def _md_sessions(findings: Findings) -> list[str]:
    lines = []
    for s in findings.sessions:
        consent = f", consent: {md_code(s.consent)}" if s.consent else ""
        consent += f", GPC: {md_text(s.gpc)}" if s.gpc else ""
        label = f" {md_code(s.label)}" if s.label else ""
        lines.append(
            f"- session {s.id}{label} ({md_text(s.source)}, {md_text(s.started_at)} – "
            f"{md_text(s.ended_at or 'still running')}{consent}), "
            f"signatures {md_code(s.signatures_digest)}"
        )
    return lines


def _md_rows(groups: Sequence[Group], first_cell: Callable[[Group], str]) -> list[str]:
    lines = []
    for item in groups[:MARKDOWN_ROWS]:
        leak = item.first
        data = f"{md_text(leak.category)} {md_code(leak.matched)}".strip()
        lines.append(
            f"| {first_cell(item)} | {md_text(leak.vendor_label)} | "
            f"{data} | {md_code(field_path(leak.path))} | {md_code(leak.page_path)} | "
            f"{item.count} |"
        )
    if len(groups) > MARKDOWN_ROWS:
        lines += ["", f"_…and {len(groups) - MARKDOWN_ROWS} more; see the full report._"]
    return lines


def _md_accepted(accepted: Sequence[Leak]) -> list[str]:
    """The findings the policy accepts, in a table of their own: shown apart, never hidden."""
    if not accepted:
        return []
    rules = ", ".join(f"{md_code(rule)} {n}" for rule, n in policy_counts(accepted).items())
    return [
        "",
        f"#### Accepted by the policy: {len(accepted)} finding(s) ({rules})",
        "",
        "| policy | vendor | data | field | page | seen |",
        "|---|---|---|---|---|---|",
        *_md_rows(group(accepted), lambda item: f"{md_code(item.first.policy or '')}"),
    ]


def to_markdown(findings: Findings) -> str:
    """A summary for a pull-request comment: counts, then one table row per distinct leak.

    Findings the policy accepts are counted in the title's line and listed in a
    table of their own after the others.
    """
    left, accepted = split_accepted(findings.leaks)
    counts = dict.fromkeys(SEVERITIES, 0)
    for leak in left:
        counts[leak.severity] = counts.get(leak.severity, 0) + 1
    groups = group(left)
    if groups:
        title = " · ".join(f"{ICONS[s]} {n} {s}" for s, n in counts.items() if n)
    else:
        title = "✅ nothing outside the policy" if accepted else "✅ no findings"
    lines = [
        f"### phitrace: {title}",
        "",
        f"{len(left)} finding(s), {len(groups)} distinct leak(s), in "
        f"{findings.total_flows} tracker flow(s) · phitrace {md_text(__version__)}",
        "",
        *_md_sessions(findings),
    ]
    if groups:
        lines += [
            "",
            "| severity | vendor | data | field | page | seen |",
            "|---|---|---|---|---|---|",
        ]
        lines += _md_rows(groups, lambda item: f"{ICONS[item.severity]} {item.severity}")
    lines += _md_accepted(accepted)
    lines += md_logged_in(findings.logged_in_pages)
    lines += _md_parties(party_views(findings.parties, findings.leaks))
    return "\n".join(lines) + "\n"


def _md_party_row(party: PartyView) -> str:
    catalogued = f"yes ({md_code(party.vendor)})" if party.catalogued else "**no**"
    received = ", ".join(f"{md_text(r.label)} ({r.findings})" for r in party.received)
    return (
        f"| {md_code(party.domain)} | {party.requests} | {catalogued} | "
        f"{md_text(party.company) or 'unknown'} | {received or 'nothing found'} |"
    )


def _md_parties(parties: list[PartyView]) -> list[str]:
    """The third parties: a count, the unlisted ones that received data, a short table."""
    if not parties:
        return []
    unlisted = sum(1 for p in parties if not p.catalogued)
    lines = ["", f"#### Third parties: {len(parties)}, {unlisted} not in the catalogue", ""]
    called_out = [md_code(p.domain) for p in parties if p.unlisted_with_findings]
    if called_out:
        lines += [f"⚠️ Unlisted and received data: {', '.join(called_out)}", ""]
    lines += ["| domain | requests | catalogued | company | received |", "|---|---|---|---|---|"]
    lines += [_md_party_row(p) for p in parties[:MARKDOWN_ROWS]]
    if len(parties) > MARKDOWN_ROWS:
        lines += ["", f"_…and {len(parties) - MARKDOWN_ROWS} more; see the full report._"]
    return lines


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def _details(item: Group) -> str:
    leak = item.first
    trail = f" (decoded: {leak.trail_text})" if leak.trail else ""
    return "\n".join(
        [
            f"severity: {item.severity}: {leak.reason}",
            f"vendor: {leak.vendor_label} ({leak.vendor})",
            f"data: {leak.kind} / {leak.category}, matched {leak.matched!r} by rule {leak.rule}",
            f"field: {leak.path}{trail}",
            f"page: {leak.page_path}",
            f"request: {leak.method} {leak.host}{url_parts(leak.url).path}",
            f"request sha256: {leak.request_sha256}",
            f"seen: {item.count} time(s); fingerprint {item.fingerprint}",
        ]
    )


def to_junit(findings: Findings) -> str:
    """JUnit XML: a test suite per vendor, a failing test case per distinct leak."""
    groups = group(findings.leaks)
    by_vendor: dict[str, list[Group]] = {}
    for item in groups:
        by_vendor.setdefault(item.first.vendor or item.first.host, []).append(item)
    failures = sum(1 for g in groups if g.severity in FAIL_LEVELS)
    root = ET.Element("testsuites", name="phitrace", tests=str(len(groups) or 1))
    root.set("failures", str(failures))
    root.set("errors", "0")
    if not groups:
        suite = ET.SubElement(root, "testsuite", name="phitrace", tests="1", failures="0")
        suite.set("errors", "0")
        ET.SubElement(suite, "testcase", classname="phitrace", name="no findings", time="0")
    for vendor, items in by_vendor.items():
        failed = sum(1 for g in items if g.severity in FAIL_LEVELS)
        suite = ET.SubElement(root, "testsuite", name=_xml(f"phitrace.{vendor}"))
        suite.set("tests", str(len(items)))
        suite.set("failures", str(failed))
        suite.set("errors", "0")
        for item in items:
            case = ET.SubElement(suite, "testcase", classname=_xml(f"phitrace.{vendor}"))
            case.set("name", _xml(f"[{item.severity}] {leak_title(item)}"))
            case.set("time", "0")
            if item.severity in FAIL_LEVELS:
                failure = ET.SubElement(case, "failure", type=item.severity)
                failure.set("message", _xml(f"{item.first.vendor_label}: {item.first.reason}"))
                failure.text = _xml(_details(item))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"


FORMATS: dict[str, ExportFunction] = {
    "html": to_html,
    "json": to_json,
    "csv": to_csv,
    "md": to_markdown,
    "junit": to_junit,
    "sarif": to_sarif,
}
"""Export formats by name (``phitrace report --format NAME``)."""

STREAMED: dict[str, StreamedExport] = {
    "json": write_json_export,
    "csv": write_csv_export,
    "sarif": write_sarif,
}
"""Formats written as the findings are read (same bytes as :data:`FORMATS`' functions)."""

EXTENSIONS = {"junit": "xml"}
"""File extensions of default output names that differ from the format's name."""

RAW_FORMATS = frozenset({"html"})
"""Formats that show stored raw requests, so need them loaded."""


def extension(name: str) -> str:
    """The file extension for a format's default output file."""
    return EXTENSIONS.get(name, name)


def datasette_metadata_path() -> Path:
    """The Datasette metadata file shipped with phitrace."""
    return data_dir("reports") / "datasette-metadata.yaml"


def datasette_metadata(database: str = "phitrace") -> str:
    """The Datasette metadata, keyed to a database name (its file name without ``.db``)."""
    text = datasette_metadata_path().read_text(encoding="utf-8")
    if database == "phitrace":
        return text
    document = load_yaml(text)
    document["databases"] = {database: document["databases"]["phitrace"]}
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
