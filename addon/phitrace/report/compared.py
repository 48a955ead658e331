"""The comparison a report of several sessions shows, and how comparisons read.

A report over two or more sessions compares its first session with its last
(in session order): the typical journey recorded twice, consent accepted
then rejected, or before and after a fix.  The sessions are split out of
the one loaded :class:`~phitrace.store.reader.Findings` and handed to the
same pure :func:`~phitrace.report.compare.compare` that ``phitrace compare``
runs, so the section and the command always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from phitrace.report.compare import Comparison, Section, compare
from phitrace.store.reader import Findings, SessionView

CHANGE_LABELS = {
    "only_a": "only in A",
    "only_b": "only in B",
    "worse": "worse in B",
    "better": "better in B",
    "same": "unchanged",
}
"""How each :attr:`~phitrace.report.compare.Row.change` reads in Markdown and HTML."""


@dataclass(frozen=True)
class SectionSpec:
    """How a section is titled, and what its second column (if any) is called."""

    title: str
    column: str


SECTIONS = {
    "vendors": SectionSpec("Vendors", ""),
    "endpoints": SectionSpec("Endpoints", "endpoint"),
    "cells": SectionSpec("Vendor × data category", "category"),
}


def counts_line(section: Section) -> str:
    """One sentence of a section's counts, as Markdown and HTML both show it."""
    c = section.counts
    return (
        f"{c['only_a']} only in A, {c['only_b']} only in B, "
        f"{c['severity_changed']} with a severity change, {c['unchanged']} unchanged."
    )


def one_session(findings: Findings, session: SessionView) -> Findings:
    """The part of several sessions' findings that one session recorded."""
    endpoints = findings.session_endpoints.get(session.id, {})
    return Findings(
        sessions=[session],
        leaks=[leak for leak in findings.leaks if leak.session_id == session.id],
        endpoints=endpoints,
        vendor_info=findings.vendor_info,
        total_flows=sum(sum(contacted.values()) for contacted in endpoints.values()),
        generated_at=findings.generated_at,
    )


def first_and_last(findings: Findings) -> Comparison | None:
    """The first session against the last; None when the findings cover fewer than two."""
    if len(findings.sessions) < 2:
        return None
    ordered = sorted(findings.sessions, key=lambda s: s.id)
    first, last = ordered[0], ordered[-1]
    return compare(one_session(findings, first), one_session(findings, last), first, last)
