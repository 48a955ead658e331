"""Severity rules and session linkage: every rule, with the reason it stores."""

from __future__ import annotations

import pytest

from phitrace.analyzer import Analyzer
from phitrace.assess.linkage import Link, Linker
from phitrace.assess.severity import assess, flow_severity, with_article
from phitrace.catalogue.loader import parse_signature
from phitrace.catalogue.matcher import Catalogue
from phitrace.detect.canaries import parse_canaries
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Finding, Request
from phitrace.session import Session


def health(matched: str = "diabetes") -> Finding:
    return Finding("health", "condition", "query.dl", "x", matched, "r", reason="term")


def ident(category: str = "device_id", value: str = "cid-1") -> Finding:
    return Finding(
        "identifier", category, "query.cid", value, f"{category}:field", "r", reason="id"
    )


def canary(name: str, kind: str = "other") -> Finding:
    return Finding(
        "canary", name, "url", "v", "raw", "canary:raw", reason="persona", canary_kind=kind
    )


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
            [health(), canary("email", "email")],
            "analytics",
            "high",
            "health data sent together with identifiers (canary 'email')",
        ),
        ([health()], "advertising", "high", "health data sent to an advertising vendor"),
        ([health()], "social", "high", "health data sent to a social vendor"),
        (
            [health()],
            "session_replay",
            "medium",
            "health data sent to a session replay tracker without an identifier",
        ),
        (
            [canary("drug", "health")],
            "analytics",
            "medium",
            "health data sent to an analytics tracker without an identifier",
        ),
        ([ident("user_id")], "advertising", "low", "identifiers only (user_id); no health data"),
        (
            [canary("email", "email")],
            None,
            "low",
            "identifiers only (canary 'email'); no health data",
        ),
        (
            [health()],
            None,
            "medium",
            "health data sent to a third-party tracker without an identifier",
        ),
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
    level, reason, assessed = assess([ident("user_id")], "advertising")
    assert level == "low" and assessed[0].severity == "low"
    assert reason == "identifiers only (user_id); no health data"
    assert assessed[0].reason == "id; identifiers only (user_id); no health data"
    level, _, assessed = assess([health(), ident()], "analytics")
    assert level == "high" and {f.severity for f in assessed} == {"high"}
    assert all(f.reason.endswith("(device_id)") for f in assessed)


@pytest.mark.parametrize(
    ("noun", "expected"),
    [
        ("advertising", "an advertising"),
        ("analytics", "an analytics"),
        ("other", "an other"),
        ("social", "a social"),
        ("session replay", "a session replay"),
        ("third-party", "a third-party"),
    ],
)
def test_reasons_choose_a_or_an_by_the_first_letter(noun: str, expected: str) -> None:
    assert with_article(noun) == expected


AD_PIXEL = parse_signature(
    {
        "id": "ad-pixel",
        "name": "Ad Pixel",
        "company": "Ads Inc.",
        "category": "advertising",
        "endpoints": [{"hosts": ["ads.example"]}],
        "fields": {"page_url": ["dl"]},
    },
    "ad.yaml",
)


def ad_request(**query: str) -> Request:
    pairs = "&".join(f"{key}={value}" for key, value in query.items())
    return Request("GET", f"https://ads.example/tr?{pairs}", (("Referer", "https://h.example/"),))


def test_canaries_whose_names_hold_health_words_are_judged_by_their_values() -> None:
    persona = {
        "test_email": "robin.canary@example.org",
        "lab_email": "lab.canary@example.org",
        "plan_member_id": {"value": "MBR-77123", "kind": "member_id"},
        "search_note": "blue-sky-canary",
    }
    analyzer = Analyzer(
        Catalogue([AD_PIXEL]), load_vocabulary(), parse_canaries({"canaries": persona})
    )
    request = ad_request(
        a="robin.canary@example.org", b="lab.canary@example.org", c="MBR-77123", d="blue-sky-canary"
    )
    analysis = analyzer.analyse(request)
    found = {f.category: f.canary_kind for f in analysis.findings if f.kind == "canary"}
    assert found == {
        "test_email": "email",
        "lab_email": "email",
        "plan_member_id": "member_id",
        "search_note": "other",
    }
    assert analysis.severity == "low"
    assert analysis.severity_reason.startswith("identifiers only (")


def test_a_canary_declared_health_with_an_identifier_is_high() -> None:
    persona = {
        "drug": {"value": "Zyloprimol", "kind": "health"},
        "email": "robin.canary@example.org",
    }
    analyzer = Analyzer(
        Catalogue([AD_PIXEL]), load_vocabulary(), parse_canaries({"canaries": persona})
    )
    analysis = analyzer.analyse(ad_request(q="Zyloprimol", e="robin.canary@example.org"))
    assert analysis.severity == "high"
    assert analysis.severity_reason == (
        "health data sent together with identifiers (email, canary 'email')"
    )
    alone = analyzer.analyse(ad_request(q="Zyloprimol"))
    assert (alone.severity, alone.severity_reason) == (
        "high",
        "health data sent to an advertising vendor",
    )


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
