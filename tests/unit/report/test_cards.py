"""Evidence cards: one per flagged flow, its findings inside, the decoded payload as a tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from phitrace.report.cards import (
    CARD_COLUMNS,
    FindingLine,
    FlowCard,
    TreeGroup,
    TreeNode,
    card_data,
    flow_cards,
    marks_for,
    short_url,
)
from phitrace.report.html import context_for
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import DIABETES_PAGE, PERSONA_SHA, clinic


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    path = clinic(tmp_path_factory.mktemp("cards") / "clinic.db")
    db = open_database(path)
    db.execute("update flows set authenticated = 'yes' where id = 2")
    db.execute("update flows set authenticated = 'no' where id in (1, 5)")
    db.conn.commit()
    loaded = load_findings(db, raw=True)
    db.close()
    return loaded


@pytest.fixture(scope="module")
def cards(findings: Findings) -> list[FlowCard]:
    return flow_cards(findings)


def test_one_card_per_flagged_flow_most_severe_first_then_in_time(cards: list[FlowCard]) -> None:
    assert [(c.flow_id, c.severity, c.vendor_label) for c in cards] == [
        (1, "high", "Meta Pixel"),
        (5, "high", "Meta Pixel"),
        (2, "medium", "Google Analytics"),
        (4, "low", "Microsoft Advertising UET"),
    ]


def test_a_card_lists_its_findings_reasons_and_identifiers_once(cards: list[FlowCard]) -> None:
    pixel = cards[0]
    assert (pixel.page_url, pixel.page_key) == (DIABETES_PAGE, DIABETES_PAGE.split("?")[0])
    assert (pixel.timestamp, pixel.method, pixel.status) == (
        "2026-01-01T00:00:01.000+00:00",
        "GET",
        200,
    )
    assert pixel.short_url == "www.facebook.com/tr/?…"
    assert pixel.url.startswith("https://www.facebook.com/tr/?id=123&ev=PageView&dl=")
    assert pixel.reasons == (
        "health data sent together with an identifier",
        "identifier:hashed_email",
        "canary:email",
    )
    assert pixel.findings == (
        FindingLine(
            "high",
            "health",
            "condition",
            "query.dl",
            "",
            DIABETES_PAGE,
            "diabetes",
            (34, 42),
            "health data sent together with an identifier",
            "health:condition",
            "",
        ),
        FindingLine(
            "high",
            "identifier",
            "hashed_email",
            "query.ud[em]",
            "",
            PERSONA_SHA,
            "sha256",
            (0, 64),
            "identifier:hashed_email",
            "identifier:hashed_email",
            "",
        ),
        FindingLine(
            "high",
            "canary",
            "email",
            "query.ud[em]",
            "",
            PERSONA_SHA,
            "sha256(lower(trim))",
            (0, 64),
            "canary:email",
            "canary:email",
            "",
        ),
    )
    assert pixel.identifiers == (("hashed_email", PERSONA_SHA), ("email", PERSONA_SHA))
    assert pixel.categories == ["condition", "hashed_email", "email"]
    assert pixel.authenticated == "no"


def test_the_payload_tree_groups_decoded_fields_and_marks_the_hits(cards: list[FlowCard]) -> None:
    pixel = cards[0]
    assert pixel.tree == (
        TreeGroup(
            "query",
            (
                TreeNode("query.id", "", "123", (), False),
                TreeNode("query.ev", "", "PageView", (), False),
                TreeNode("query.dl", "", DIABETES_PAGE, (34, 42), True),
                TreeNode("query.ud[em]", "", PERSONA_SHA, (0, 64), True),
            ),
        ),
        TreeGroup(
            "header", (TreeNode("header.referer", "", "https://clinic.example/", (), False),)
        ),
    )
    assert pixel.truncated == ""


def test_a_body_decoded_through_a_trail_is_a_tree_with_the_trail(cards: list[FlowCard]) -> None:
    search = cards[2]
    assert search.tree == (
        TreeGroup(
            "query",
            (
                TreeNode("query.v", "", "2", (), False),
                TreeNode("query.tid", "", "G-TEST", (), False),
            ),
        ),
        TreeGroup(
            "body",
            (
                TreeNode("body.line[0].en", "lines>form", "page_view", (), False),
                TreeNode("body.line[1].en", "lines>form", "view_search_results", (), False),
                TreeNode(
                    "body.line[1].ep.search_term", "lines>form", "metformin dosage", (0, 9), True
                ),
            ),
        ),
    )
    assert search.raw is not None and search.raw.endswith("ep.search_term=metformin%20dosage")
    assert search.authenticated == "yes"


def test_a_flow_stored_without_its_request_still_gets_a_tree_from_its_url(
    cards: list[FlowCard],
) -> None:
    bing = cards[3]
    assert bing.raw is None
    assert bing.tree == (
        TreeGroup(
            "query",
            (
                TreeNode("query.ti", "", "1", (), False),
                TreeNode("query.vid", "", "abc-123", (0, 7), True),
            ),
        ),
    )
    assert bing.authenticated == ""


def test_marks_cover_the_term_of_health_data_and_the_whole_of_an_identifier() -> None:
    assert marks_for("q=heart%20failure", "health", "heart failure") == (2, 17)
    assert marks_for("abc-123", "identifier", "user_id") == (0, 7)
    assert marks_for("", "canary", "x") == ()


def test_short_url_keeps_host_and_path_and_notes_a_query() -> None:
    assert short_url("https://bat.bing.com/action/0?ti=1") == "bat.bing.com/action/0?…"
    assert short_url("https://t.example/" + "p" * 100, limit=20) == "t.example/" + "p" * 10 + "…"
    assert short_url("not a url") == "not a url"


def test_card_data_names_its_columns_and_nests_findings_and_nodes(cards: list[FlowCard]) -> None:
    data = card_data(cards)
    assert data["columns"]["card"] == CARD_COLUMNS
    assert data["columns"]["node"] == ("path", "trail", "value", "marks", "hit")
    row = dict(zip(CARD_COLUMNS, data["cards"][3], strict=True))
    assert row["findings"] == [
        [
            "low",
            "identifier",
            "user_id",
            "query.vid",
            "",
            "abc-123",
            "user_id",
            (0, 7),
            "identifier:user_id",
            "identifier:user_id",
            "",
        ]
    ]
    assert row["tree"] == [
        ["query", [["query.ti", "", "1", (), False], ["query.vid", "", "abc-123", (0, 7), True]]]
    ]
    assert row["identifiers"] == [["user_id", "abc-123"]]


def test_the_login_filter_offers_the_states_the_flagged_flows_were_seen_in(
    findings: Findings,
) -> None:
    assert context_for(findings).filters["authenticated"] == [
        ("yes", "logged in"),
        ("no", "not logged in"),
    ]


def test_no_login_filter_when_nothing_is_known(tmp_path: Path) -> None:
    db = open_database(clinic(tmp_path / "clinic.db"))
    assert context_for(load_findings(db)).filters["authenticated"] == []
    db.close()
