"""Severity rules and session linkage: every rule, with the reason it stores."""

from __future__ import annotations

import pytest

from phitrace.analyzer import Analyzer
from phitrace.assess.linkage import Link, Linker
from phitrace.assess.severity import assess, flow_severity, is_health_canary
from phitrace.catalogue.loader import parse_signature
from phitrace.catalogue.matcher import Catalogue
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Finding, Request
from phitrace.session import Session


def health(matched: str = "diabetes") -> Finding:
    return Finding("health", "condition", "query.dl", "x", matched, "r", reason="term")


def ident(category: str = "device_id", value: str = "cid-1") -> Finding:
    return Finding(
        "identifier", category, "query.cid", value, f"{category}:field", "r", reason="id"
    )


def canary(name: str) -> Finding:
    return Finding("canary", name, "url", "v", "raw", "canary:raw", reason="persona")


@pytest.mark.parametrize(
    ("findings", "category", "expected", "reason"),
    [
        (
            [health(), ident("hashed_email")],
            "analytics",
            "high",
            "health data sent together with identifiers (hashed_email)",
        ),
        (
            [health(), canary("email")],
            "analytics",
            "high",
            "health data sent together with identifiers (canary 'email')",
        ),
        ([health()], "advertising", "high", "health data sent to an advertising vendor"),
        ([health()], "social", "high", "health data sent to an social vendor"),
        (
            [health()],
            "session_replay",
            "medium",
            "health data sent to a session replay tracker without an identifier",
        ),
        (
            [canary("drug")],
            "analytics",
            "medium",
            "health data sent to a analytics tracker without an identifier",
        ),
        ([ident("user_id")], "advertising", "low", "identifiers only (user_id); no health data"),
        ([canary("email")], None, "low", "identifiers only (canary 'email'); no health data"),
        ([], "analytics", "info", "tracker contacted; nothing sensitive found"),
    ],
)
def test_each_rule_gives_its_level_and_reason(
    findings: list[Finding], category: str | None, expected: str, reason: str
) -> None:
    assert flow_severity(findings, category) == (expected, reason)


def test_linked_health_data_is_high_and_says_how() -> None:
    link = Link("meta-pixel", "device id", identifiers=("hashed_email",))
    level, reason = flow_severity([health()], "analytics", linked=link)
    assert level == "high"
    assert reason == (
        "health data linked by meta-pixel's device id to hashed_email "
        "sent in other requests of this session"
    )


def test_identifier_findings_without_health_stay_low_and_every_reason_is_stored() -> None:
    level, assessed = assess([ident("user_id")], "advertising")
    assert level == "low" and assessed[0].severity == "low"
    assert assessed[0].reason == "id; identifiers only (user_id); no health data"
    level, assessed = assess([health(), ident()], "analytics")
    assert level == "high" and {f.severity for f in assessed} == {"high"}
    assert all(f.reason.endswith("(device_id)") for f in assessed)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("drug", True),
        ("search_term", True),
        ("allergies", True),
        ("email", False),
        ("member_id", False),
        ("date_of_birth", False),
    ],
)
def test_canary_names_say_whether_they_hold_health_data(name: str, expected: bool) -> None:
    assert is_health_canary(name) is expected


def test_the_linker_links_health_to_identifiers_seen_earlier_with_the_same_id() -> None:
    linker = Linker()
    assert linker.observe("meta-pixel", [ident(), ident("hashed_email", "ab" * 32)]) is None
    link = linker.observe("meta-pixel", [health(), ident()])
    assert link == Link("meta-pixel", "device id", identifiers=("hashed_email",))
    # Another vendor with the same value is another id space.
    assert linker.observe("google-analytics", [health(), ident()]) is None


def test_the_linker_links_a_later_identifier_to_earlier_health_data() -> None:
    linker = Linker()
    assert linker.observe("meta-pixel", [health("HIV"), ident()]) is None
    link = linker.observe("meta-pixel", [ident(), ident("email", "jane@example.org")])
    assert link is not None and link.health == ("condition:HIV",)
    assert "health data sent in other requests of this session (condition:HIV)" in link.reason
    level, _ = flow_severity(
        [ident(), ident("email", "jane@example.org")], "advertising", linked=link
    )
    assert level == "high"


def test_device_ids_alone_do_not_make_a_link() -> None:
    linker = Linker()
    linker.observe("ga", [health(), ident()])
    assert linker.observe("ga", [ident()]) is None
    assert linker.observe(None, [health(), ident()]) is None


def test_the_linker_is_bounded_and_can_be_cleared() -> None:
    linker = Linker(max_keys=3)
    for i in range(10):
        linker.observe("ga", [ident(value=f"cid-{i}")])
    assert len(linker) == 3
    linker.clear()
    assert len(linker) == 0


def test_the_analyzer_links_flows_of_one_vendor_in_a_session() -> None:
    signature = parse_signature(
        {
            "id": "pixel",
            "name": "Pixel",
            "company": "P",
            "category": "analytics",
            "endpoints": [{"hosts": ["pixel.example"]}],
            "fields": {"page_url": ["dl"], "client_id": ["cid"], "user_id": ["uid"]},
        },
        "p.yaml",
    )
    analyzer = Analyzer(Catalogue([signature]), load_vocabulary())
    session = Session()
    health_view = Request(
        "GET", "https://pixel.example/c?cid=abc123&dl=https://h.example/conditions/hiv"
    )
    first = analyzer.analyse(Request("GET", "https://pixel.example/c?cid=abc123&uid=u-42"), session)
    assert first.severity == "low"
    second = analyzer.analyse(health_view, session)
    assert second.severity == "high"
    reasons = {f.reason for f in second.findings if f.kind == "health"}
    assert reasons and all("linked by pixel's device id to user_id" in r for r in reasons)
    # Without a session, or in a new one, the same request is judged on its own.
    for alone in (analyzer.analyse(health_view), analyzer.analyse(health_view, Session())):
        assert not any("linked" in f.reason for f in alone.findings)
    lone = Request("GET", "https://pixel.example/c?dl=https://h.example/conditions/hiv")
    assert analyzer.analyse(lone, session).severity == "medium"
