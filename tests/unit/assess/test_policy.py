"""Policy rules: covered vendors, allow entries, severity overrides, and their order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from phitrace.analyzer import Analyzer
from phitrace.assess.policy import (
    Policy,
    PolicyError,
    apply_policy,
    judge,
    parse_policy,
    policy_rule,
)
from phitrace.catalogue.loader import load_catalogue
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Analysis, Finding, Request

CAREERS = "https://www.example.org/careers/*"
POLICY = parse_policy(
    {
        "covered_vendors": ["adobe-analytics", "qualtrics"],
        "allow": [
            {"vendor": "google-analytics", "pages": [CAREERS], "kinds": ["identifier"]},
            {"vendor": "hotjar"},
            {"vendor": "google-analytics", "pages": ["https://www.example.org/about"]},
        ],
        "severity": {"device_id": "info", "ip_address": "high"},
    }
)


def finding(
    kind: str = "identifier", category: str = "device_id", severity: str = "low"
) -> Finding:
    return Finding(kind, category, "query.cid", "v", "m", "r", severity=severity, reason="why")


@pytest.mark.parametrize(
    ("vendor", "page", "kind", "expected"),
    [
        ("adobe-analytics", "https://www.example.org/portal", "health", "covered"),
        ("qualtrics", None, "identifier", "covered"),
        ("google-analytics", "https://www.example.org/careers/nurse", "identifier", "allowed:1"),
        ("google-analytics", "https://www.example.org/careers/a/b?x=1", "identifier", "allowed:1"),
        ("google-analytics", "https://www.example.org/careers/nurse", "health", None),
        ("google-analytics", "https://www.example.org/conditions/hiv", "identifier", None),
        ("google-analytics", "https://www.example.org/about", "health", "allowed:3"),
        ("google-analytics", None, "identifier", None),  # unknown page: no page rule fits
        ("google-analytics", "", "identifier", None),
        ("hotjar", None, "health", "allowed:2"),  # no pages, no kinds: everything
        ("meta-pixel", "https://www.example.org/careers/nurse", "identifier", None),
        (None, "https://www.example.org/careers/nurse", "canary", None),
    ],
)
def test_the_rule_that_accepts_a_finding(
    vendor: str | None, page: str | None, kind: str, expected: str | None
) -> None:
    assert policy_rule(POLICY, vendor, page, kind) == expected


def test_covered_wins_over_an_allow_entry_and_the_first_entry_wins() -> None:
    policy = parse_policy(
        {
            "covered_vendors": ["hotjar"],
            "allow": [{"vendor": "hotjar"}, {"vendor": "meta-pixel"}, {"vendor": "meta-pixel"}],
        }
    )
    assert policy_rule(policy, "hotjar", None, "health") == "covered"
    assert policy_rule(policy, "meta-pixel", None, "health") == "allowed:2"


def test_page_globs_are_linear_time_on_long_urls() -> None:
    policy = parse_policy({"allow": [{"vendor": "x", "pages": ["https://*a*a*a*a*a*a*a*a*b"]}]})
    assert policy_rule(policy, "x", "https://" + "a" * 50_000, "health") is None


def test_a_severity_override_changes_the_category_and_says_so() -> None:
    judged = judge(POLICY, finding(), "meta-pixel", None)
    assert judged.severity == "info"
    assert judged.reason == "why; severity info (was low) set by the policy for device_id"
    assert judged.policy is None


def test_an_override_leaves_other_categories_and_canaries_alone() -> None:
    assert judge(POLICY, finding(category="email"), "meta-pixel", None).severity == "low"
    canary = finding(kind="canary", category="device_id")
    assert judge(POLICY, canary, "meta-pixel", None).severity == "low"


def test_judging_twice_changes_nothing() -> None:
    once = judge(POLICY, finding(), "adobe-analytics", None)
    assert judge(POLICY, once, "adobe-analytics", None) == once
    assert once.policy == "covered"


def analysis(*findings: Finding, vendor: str = "meta-pixel") -> Analysis:
    severity = min((f.severity for f in findings), default="info")
    return Analysis(
        request=Request("GET", "https://t.example/c"),
        vendor=vendor,
        page_url="https://www.example.org/careers/nurse",
        findings=findings,
        severity=severity,
        severity_reason="identifiers only (device_id); no health data",
    )


def test_the_request_severity_follows_its_overridden_findings() -> None:
    judged = apply_policy(POLICY, analysis(finding()))
    assert judged.severity == "info"
    assert judged.severity_reason.endswith("; severity info (was low) after the policy")
    raised = apply_policy(POLICY, analysis(finding(), finding(category="ip_address")))
    assert raised.severity == "high"


def test_a_request_whose_severities_stand_keeps_its_reason() -> None:
    original = analysis(finding(category="email"), vendor="google-analytics")
    judged = apply_policy(POLICY, original)
    assert judged.severity_reason == original.severity_reason
    assert [f.policy for f in judged.findings] == ["allowed:1"]


def test_without_a_policy_nothing_changes() -> None:
    original = analysis(finding())
    assert apply_policy(None, original) is original
    assert apply_policy(Policy(), original) == replace(original)


def test_an_empty_document_is_an_empty_policy() -> None:
    assert policy_rule(parse_policy(None), "meta-pixel", None, "health") is None


@pytest.mark.parametrize(
    "data",
    [["a"], {"allow": [{"pages": ["x"]}]}, {"covered_vendors": "adobe"}, {"severity": ["a"]}],
)
def test_documents_the_code_cannot_use_are_refused(data: object) -> None:
    with pytest.raises(PolicyError):
        parse_policy(data)


def test_the_analyser_records_the_policy_rule_of_a_real_request() -> None:
    policy = parse_policy({"covered_vendors": ["google-analytics"]})
    analyzer = Analyzer(load_catalogue(), load_vocabulary(), policy=policy)
    request = Request(
        "GET",
        "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=123.456"
        "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes",
    )
    result = analyzer.analyse(request)
    assert result.vendor == "google-analytics"
    assert result.findings and {f.policy for f in result.findings} == {"covered"}
