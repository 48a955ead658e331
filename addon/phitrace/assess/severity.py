"""Assess how serious a request's findings are, and say why.

The rules are deliberately few and explainable; the first that applies wins,
and its sentence is stored once for the request (``flows.severity_reason``)
and after the reason of every finding of the request:

1. ``high``: health data sent together with an identifier (an e-mail, a
   phone number, a hashed e-mail, a user or device id…) or a test-persona
   canary in the same request;
2. ``high``: health data linked to identifiers by the same vendor's id in
   other requests of the session (see :mod:`phitrace.assess.linkage`), or a
   personal identifier linked that way to health data sent earlier;
3. ``high``: health data sent to an advertising or social vendor, even
   without an identifier (those vendors identify visitors by their own
   cookies);
4. ``medium``: health data sent to any other tracker (analytics, session
   replay, tag managers…) without an identifier;
5. ``low``: identifiers or canaries only, no health data;
6. ``info``: a tracker was contacted and nothing sensitive was found.

Whatever the rule, a tracker request from a page viewed logged in is at least
``high`` (:data:`AUTHENTICATED_RULE`), with the evidence of the login in the
reason.

Health data is a finding of kind ``health``, or a canary declared
``kind: health`` (a planted drug, condition or search).  A canary's name never
decides: ``lab_email`` is an e-mail address.  Every finding of a request
carries the request's severity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from phitrace.assess.linkage import Link
from phitrace.model import Finding

AD_CATEGORIES = frozenset({"advertising", "social"})

AUTHENTICATED_RULE = (
    "HHS OCR bulletin on online tracking technologies: tracking on user-authenticated "
    "webpages generally has access to PHI"
)
"""Why any tracker request from a logged-in page is at least high."""


class Assessment(NamedTuple):
    """A request's severity, the reason for it, and its findings with both applied."""

    severity: str
    reason: str
    findings: list[Finding]


def _is_health(finding: Finding) -> bool:
    return finding.kind == "health" or (
        finding.kind == "canary" and finding.canary_kind == "health"
    )


def with_article(noun: str) -> str:
    """``noun`` after "a" or "an", chosen by its first letter: "an analytics", "a social"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _names(findings: Sequence[Finding]) -> str:
    names: list[str] = []
    for f in findings:
        label = f"canary '{f.category}'" if f.kind == "canary" else f.category
        if label not in names:
            names.append(label)
    return ", ".join(names[:6]) + (" …" if len(names) > 6 else "")


def flow_severity(
    findings: Sequence[Finding], tracker_category: str | None, *, linked: bool | Link = False
) -> tuple[str, str]:
    """Return the severity of one request and the reason for it."""
    health = [f for f in findings if _is_health(f)]
    identifiers = [f for f in findings if f.kind in ("identifier", "canary") and not _is_health(f)]
    link_reason = linked.reason if isinstance(linked, Link) else "linked to identifiers"
    if health and identifiers:
        also = f"; {link_reason}" if isinstance(linked, Link) else ""
        return "high", f"health data sent together with identifiers ({_names(identifiers)}){also}"
    if health and linked:
        return "high", f"health data {link_reason}"
    if health and tracker_category in AD_CATEGORIES:
        return "high", f"health data sent to {with_article(tracker_category)} vendor"
    if health:
        where = tracker_category.replace("_", " ") if tracker_category else "third-party"
        return "medium", f"health data sent to {with_article(where)} tracker without an identifier"
    if identifiers and linked:
        return "high", f"identifiers ({_names(identifiers)}) {link_reason}"
    if identifiers:
        return "low", f"identifiers only ({_names(identifiers)}); no health data"
    return "info", "tracker contacted; nothing sensitive found"


def authenticated_severity(severity: str, reason: str, evidence: str) -> tuple[str, str]:
    """Raise a logged-in page's request to ``high``, naming the rule and the login evidence."""
    rule = f"tracker on a user-authenticated page ({evidence}): {AUTHENTICATED_RULE}"
    if severity == "high":
        return severity, f"{reason}; {rule}"
    return "high", f"{rule}; {reason}"


def assess(
    findings: Sequence[Finding],
    tracker_category: str | None,
    *,
    linked: bool | Link = False,
    authenticated: str | None = None,
) -> Assessment:
    """Give every finding the request's severity, and its reason after the finding's own.

    The request's reason is returned once too, for ``flows.severity_reason``;
    each finding's ``reason`` keeps both, as the ``findings.reason`` column has.
    ``authenticated`` is the evidence that the page was viewed logged in, if it was.
    """
    severity, reason = flow_severity(findings, tracker_category, linked=linked)
    if authenticated:
        severity, reason = authenticated_severity(severity, reason, authenticated)
    assessed = [f.assessed(severity, f"{f.reason}; {reason}") for f in findings]
    return Assessment(severity, reason, assessed)
