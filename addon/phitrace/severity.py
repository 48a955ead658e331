"""Assess how serious a request's findings are, and say why.

The rules are deliberately few and explainable:

- ``high``: health data together with an identifier or a canary in the same
  request (or linked to one by the same vendor's client id in the session),
  or health data sent to an advertising or social vendor;
- ``medium``: health data sent to any other tracker without an identifier;
- ``low``: identifiers only;
- ``info``: a tracker was contacted and nothing sensitive was found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from phitrace.model import Finding

AD_CATEGORIES = frozenset({"advertising", "social"})


def flow_severity(
    findings: Sequence[Finding], tracker_category: str | None, *, linked: bool = False
) -> tuple[str, str]:
    """Return the severity of one request and the reason for it."""
    health = [f for f in findings if f.kind == "health"]
    identified = linked or any(f.kind in ("identifier", "canary") for f in findings)
    canary_health = any(f.kind == "canary" for f in findings)
    if health and identified:
        return "high", "health data sent together with an identifier"
    if health and tracker_category in AD_CATEGORIES:
        return "high", f"health data sent to an {tracker_category} vendor"
    if canary_health:
        return "high", "test-persona value sent to a third party"
    if health:
        return "medium", "health data sent to a tracker without an identifier"
    if identified:
        return "low", "identifiers sent to a tracker"
    return "info", "tracker contacted; nothing sensitive found"


def assess(
    findings: Sequence[Finding], tracker_category: str | None, *, linked: bool = False
) -> tuple[str, list[Finding]]:
    """Give every finding its severity and reason; return the flow's severity too."""
    severity, reason = flow_severity(findings, tracker_category, linked=linked)
    has_health = any(f.kind == "health" for f in findings)
    assessed = []
    for finding in findings:
        if finding.kind == "identifier" and not has_health:
            assessed.append(
                replace(
                    finding, severity="low", reason=f"{finding.reason}; no health data alongside"
                )
            )
        else:
            assessed.append(
                replace(finding, severity=severity, reason=f"{finding.reason}; {reason}")
            )
    return severity, assessed
