"""Payloads no field map covers are read by key conventions; the Referer is a channel."""

from __future__ import annotations

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.detect.health import detect_health, detect_identifiers
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Field, Request
from phitrace.store.rows import Record, finding_rows

VOCAB = load_vocabulary().prepare()


def test_a_conventional_page_url_key_of_an_unlisted_vendor_is_read_as_a_url() -> None:
    url = "https://portal.example/conditions/diabetes?q=insulin+pump"
    findings = detect_health([Field("body.ctx.pageLocation", url)], None, VOCAB)
    assert any(f.category == "health_search" for f in findings)


def test_a_conventional_visitor_key_is_an_identifier_without_a_signature() -> None:
    findings = detect_identifiers([Field("body.visitorId", "v-91f2a7c3")], None)
    assert [f.category for f in findings] == ["device_id"]


def test_a_known_identifier_name_wins_over_the_convention() -> None:
    findings = detect_identifiers([Field("body.memberId", "MBR-2291-77")], None)
    assert [f.category for f in findings] == ["member_id"]


def analyse(referer: str) -> tuple[str, ...]:
    analyzer = Analyzer(load_catalogue(), VOCAB)
    headers = (("referer", referer), ("sec-fetch-dest", "image"))
    request = Request("GET", "https://cdn.unlisted-widgets.example/pixel.gif", headers)
    analysis = analyzer.analyse(request)
    return tuple(row["channel"] for row in finding_rows(Record(1, analysis)))


def test_a_full_health_page_referer_is_a_finding_on_the_referer_channel() -> None:
    assert "header.referer" in analyse("https://portal.example/conditions/diabetes")


def test_an_origin_only_referer_is_no_finding() -> None:
    assert analyse("https://portal.example/") == ()
