"""The live view of flagged flows: the verdict in metadata, a mark, a comment, a console line.

Console lines go to mitmproxy's log at ALERT level; mitmproxy's own log
handlers colour them by level, so phitrace writes no terminal codes of its own
and strips control characters from everything a payload can put in a line.
"""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from mitmproxy import http
from mitmproxy.log import ALERT

from phitrace.model import Analysis, severity_rank
from phitrace.proxy.state import Flagged, ProxyState, message_key

log = logging.getLogger(__name__)

MARKS = {"high": ":red_circle:", "medium": ":orange_circle:", "low": ":large_blue_circle:"}


def printable(text: str, limit: int = 500) -> str:
    """Make payload-derived text safe for a terminal or a UI: no control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]


def summary(analysis: Analysis) -> str:
    """One line for mitmweb's comment column: vendor, severity, what went where."""
    parts = [
        f"{f.category} '{f.matched}' in {f.path}"
        for f in analysis.findings
        if f.kind != "identifier"
    ]
    parts += [f"{f.category} in {f.path}" for f in analysis.findings if f.kind == "identifier"]
    text = "; ".join(dict.fromkeys(parts)) or "tracker contacted"
    return printable(f"{analysis.vendor or 'third party'} [{analysis.severity}]: {text}")


def console_line(analysis: Analysis, action: str, text: str | None = None) -> str:
    """The concise console line for a flagged flow; its log level carries the colour.

    ``text`` is the flow's :func:`summary` when the caller has already made it.
    """
    text = summary(analysis) if text is None else text
    return line_of(analysis.severity or "info", text, printable(analysis.request.url, 120), action)


def line_of(severity: str, text: str, url: str, action: str) -> str:
    """The console line from its parts (``url`` already printable)."""
    suffix = f" ({action})" if action != "passive" else ""
    return f"phitrace {severity.upper():<6} {text} <- {url}{suffix}"


class Shown(NamedTuple):
    """What the live view puts on a flagged flow, made where the analysis was made.

    The action is the event loop's to add: it decides what is done to the flow.
    """

    metadata: dict[str, Any]
    severity: str
    vendor: str
    mark: str = ""
    comment: str = ""
    url: str = ""
    """The printable URL for the console line, when the log shows ALERT lines."""


def verdict_metadata(analysis: Analysis, action: str) -> dict[str, Any]:
    """The verdict under ``flow.metadata["phitrace"]``."""
    return {
        "vendor": analysis.vendor,
        "severity": analysis.severity,
        "action": action,
        "findings": [[f.kind, f.category, f.matched, f.field] for f in analysis.findings],
    }


def shown(analysis: Analysis, action: str) -> Shown:
    """The view of a flagged flow: its mark, comment and console line at low or above."""
    severity = analysis.severity or "info"
    view = Shown(verdict_metadata(analysis, action), severity, analysis.vendor or "third party")
    if severity_rank(severity) > severity_rank("low"):
        return view
    url = printable(analysis.request.url, 120) if log.isEnabledFor(ALERT) else ""
    return view._replace(mark=MARKS[severity], comment=summary(analysis), url=url)


class View:
    """Shows each flagged flow's verdict in mitmproxy: metadata, mark, comment and console line."""

    name = "phitrace_view"
    """Its name in mitmproxy, which must be unique: mitmweb and mitmproxy have a 'view'."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state

    def request(self, flow: http.HTTPFlow) -> None:
        self.state.on_flagged(flow, "request", flow.id, lambda entry: self.show(flow, entry))

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        key = message_key(flow)
        self.state.on_flagged(flow, "websocket_message", key, lambda entry: self.show(flow, entry))

    def show(self, flow: http.HTTPFlow, entry: Flagged) -> None:
        """Put the verdict on the flow, count it, and mark and log flows at low or above."""
        analysis, action = entry.analysis, entry.action
        flow.metadata.setdefault("phitrace", {}).update(verdict_metadata(analysis, action))
        self._count(analysis.severity or "info", analysis.vendor or "third party")
        self._mark(flow, shown(analysis, action), action)

    def apply(self, flow: http.HTTPFlow | None, view: Shown, action: str) -> None:
        """Put a verdict made elsewhere (the analysis worker) on the flow, and count it.

        With no flow (nothing holds it any more, so nothing shows it), it is
        counted and logged only.
        """
        if flow is not None:
            verdict = flow.metadata.setdefault("phitrace", {})
            verdict.pop("analysed", None)  # set when the sinkhole answered before the analysis
            verdict.update(view.metadata, action=action)
        self._count(view.severity, view.vendor)
        self._mark(flow, view, action)

    def _count(self, severity: str, vendor: str) -> None:
        counts = self.state.session
        counts.severities[severity] += 1
        counts.vendors[vendor] += 1

    @staticmethod
    def _mark(flow: http.HTTPFlow | None, view: Shown, action: str) -> None:
        if view.mark and flow is not None:
            flow.marked = view.mark
            flow.comment = view.comment
        if view.url:
            log.log(ALERT, line_of(view.severity, view.comment, view.url, action))
