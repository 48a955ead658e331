"""Findings as SARIF 2.1.0, for code-scanning dashboards that read it.

One result per distinct leak (a fingerprint, see :mod:`phitrace.gate.baseline`),
with a rule per (kind, category) and a security severity per phitrace
severity; like the other CI formats it carries no captured values.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from phitrace import __version__
from phitrace.gate.baseline import Group, field_path, group
from phitrace.report.documents import ROWS, LeakSource, Write, leak_title, write_json
from phitrace.store.reader import Findings, Leak, url_parts, without_query

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_LEVELS = {"high": "error", "medium": "warning", "low": "note", "info": "none"}
SECURITY_SEVERITY = {"high": "8.0", "medium": "5.0", "low": "2.0", "info": "0.0"}
_KIND_TEXT = {
    "health": "Health data",
    "identifier": "An identifier",
    "canary": "A test-persona value",
}


def _rule(kind: str, category: str) -> dict[str, Any]:
    what = f"{_KIND_TEXT.get(kind, kind)} ({category}) sent to a third-party tracker"
    return {
        "id": f"{kind}/{category}",
        "name": "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", f"{kind} {category}")),
        "shortDescription": {"text": what},
        "fullDescription": {"text": f"{what}, found by phitrace in a request's payload."},
        "defaultConfiguration": {"level": "warning"},
        "properties": {"tags": ["privacy", "security", kind]},
    }


def _page_uri(leak: Leak) -> str:
    # Origin and path only: a query string can carry what the page was about.
    base = without_query(url_parts(leak.page_url or leak.url))
    return quote(base or "unknown-page", safe=":/@!$&'()*+,;=%~-._")


def _result(item: Group, rule_index: int, rule_id: str) -> dict[str, Any]:
    leak = item.first
    return {
        "ruleId": rule_id,
        "ruleIndex": rule_index,
        "level": SARIF_LEVELS[item.severity],
        "message": {"text": f"{leak.vendor_label} received {leak_title(item)}: {leak.reason}"},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": _page_uri(leak)}},
                "logicalLocations": [
                    {"fullyQualifiedName": f"{leak.vendor}:{field_path(leak.path)}"}
                ],
            }
        ],
        "partialFingerprints": {"phitraceFinding/v1": item.fingerprint},
        "occurrenceCount": item.count,
        "properties": {
            "severity": item.severity,
            "security-severity": SECURITY_SEVERITY[item.severity],
            "vendor": leak.vendor,
            "matched": leak.matched,
            "request": f"{leak.method} {leak.host}{url_parts(leak.url).path}",
            "request_sha256": leak.request_sha256,
        },
    }


def write_sarif(overview: Findings, source: LeakSource, write: Write) -> None:
    """SARIF 2.1.0: one rule per kind and category, one result per distinct leak.

    The distinct leaks (one finding each) are gathered in one pass over
    ``source``, since the rules come before the results and both follow the
    groups' order; each result is then written as it is built.
    """
    groups = group(source())
    rules: dict[str, int] = {}
    rule_list: list[dict[str, Any]] = []
    for item in groups:
        rule_id = _rule_id(item)
        if rule_id not in rules:
            rules[rule_id] = len(rule_list)
            rule_list.append(_rule(item.first.kind, item.first.category))
    driver = {"name": "phitrace", "version": __version__, "rules": rule_list}
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": ROWS}],
    }
    results = (_result(item, rules[_rule_id(item)], _rule_id(item)) for item in groups)
    write_json(document, results, write)


def _rule_id(item: Group) -> str:
    return f"{item.first.kind}/{item.first.category}"


def to_sarif(findings: Findings) -> str:
    """The SARIF export of findings in memory."""
    pieces: list[str] = []
    write_sarif(findings, lambda: iter(findings.leaks), pieces.append)
    return "".join(pieces)
