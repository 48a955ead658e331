"""The pipeline's records built on the hot path equal those their constructors build."""

from __future__ import annotations

from dataclasses import replace

from phitrace.model import Analysis, Finding, Request


def test_an_assessed_finding_equals_the_replaced_one_and_leaves_the_original() -> None:
    finding = Finding("health", "condition", "query.dl", "/hiv", "hiv", "url-path:condition")
    assessed = finding.assessed("high", "term; health data sent")
    assert assessed == replace(finding, severity="high", reason="term; health data sent")
    assert (finding.severity, finding.reason) == ("info", "")


def test_a_counted_analysis_equals_the_constructed_one() -> None:
    request = Request("GET", "https://cdn.example/app.js")
    assert Analysis.counted(request, "cdn.example") == Analysis(request, third_party="cdn.example")
    assert Analysis.counted(request) == Analysis(request)
    assert not Analysis.counted(request).recorded
