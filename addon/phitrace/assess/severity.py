"""Assess how serious a request's findings are, and say why.

The rules are deliberately few and explainable; the first that applies wins,
and its sentence is stored as the reason of every finding of the request:

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

Health data is a finding of kind ``health``, or a canary whose name says it
is a planted health fact (``drug``, ``condition``, ``search``…).  Every
finding of a request carries the request's severity.
"""

from __future__ import annotations

from collections.abc import Sequence

from phitrace.assess.linkage import Link
from phitrace.model import Finding

AD_CATEGORIES = frozenset({"advertising", "social"})

HEALTH_CANARY_WORDS = frozenset(
    {
        "drug",
        "drugs",
        "medication",
        "medications",
        "medicine",
        "prescription",
        "rx",
        "condition",
        "conditions",
        "diagnosis",
        "diagnoses",
        "symptom",
        "symptoms",
        "procedure",
        "allergy",
        "allergies",
        "test",
        "lab",
        "result",
        "results",
        "vaccine",
        "immunization",
        "appointment",
        "doctor",
        "provider",
        "specialty",
        "search",
        "message",
        "insurance",
        "plan",
        "health",
        "disease",
        "treatment",
        "therapy",
    }
)
"""Words in a canary's name that make it a planted health fact rather than an identity."""


def is_health_canary(name: str) -> bool:
    """True when a canary's name says it holds health data (``drug``, ``search_term``…)."""
    return any(part in HEALTH_CANARY_WORDS for part in name.lower().split("_"))


def _is_health(finding: Finding) -> bool:
    return finding.kind == "health" or (
        finding.kind == "canary" and is_health_canary(finding.category)
    )


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
        return "high", f"health data sent to an {tracker_category} vendor"
    if health:
        where = tracker_category.replace("_", " ") if tracker_category else "third-party"
        return "medium", f"health data sent to a {where} tracker without an identifier"
    if identifiers and linked:
        return "high", f"identifiers ({_names(identifiers)}) {link_reason}"
    if identifiers:
        return "low", f"identifiers only ({_names(identifiers)}); no health data"
    return "info", "tracker contacted; nothing sensitive found"


def assess(
    findings: Sequence[Finding], tracker_category: str | None, *, linked: bool | Link = False
) -> tuple[str, list[Finding]]:
    """Give every finding its severity and reason; return the flow's severity too."""
    severity, reason = flow_severity(findings, tracker_category, linked=linked)
    assessed = []
    for f in findings:
        assessed.append(
            Finding(
                f.kind,
                f.category,
                f.field,
                f.value,
                f.matched,
                f.rule,
                severity,
                f"{f.reason}; {reason}",
            )
        )
    return severity, assessed
