"""Findings read back as stored: path and decode trail apart, the flow's reason and company.

Each test runs on SQLite and on PostgreSQL (``db_target``).
"""

from __future__ import annotations

import json

import pytest

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import parse_signature
from phitrace.catalogue.matcher import Catalogue
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Analysis, Finding, Request
from phitrace.report.html import vendor_views
from phitrace.store.database import open_database
from phitrace.store.reader import count_leaks, iter_leaks, load_findings, load_leaks
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from phitrace.store.writer import write_record
from tests.support.seeded_db import many


def stored(path: Target, *findings: Finding, storage: str = "full") -> Target:
    db = open_database(path)
    session = start_session(db, source="har")
    analysis = Analysis(
        Request("POST", "https://t.example/c", body=b"{}"),
        "t-vendor",
        "T",
        "analytics",
        findings=findings,
        severity="medium",
        severity_reason="health data sent to an analytics tracker without an identifier",
        vendor_company="T Corp.",
    )
    with db.atomic():
        write_record(db, Record(session, analysis), store_bodies=False, storage=storage)
    db.close()
    return path


def health(path: str, trail: tuple[str, ...] = ()) -> Finding:
    return Finding("health", "condition", path, "asthma", "asthma", "r", "medium", "x", trail)


@pytest.mark.parametrize("storage", ["full", "redact"])
def test_path_and_trail_round_trip_as_separate_values(db_target: Target, storage: str) -> None:
    path = stored(db_target, health("body.data[0].q", ("gzip", "json")), storage=storage)
    with open_database(path) as db:
        row = next(iter(db.table("findings").rows))
        assert (row["path"], json.loads(row["trail"])) == ("body.data[0].q", ["gzip", "json"])
        assert row["field"] == "body.data[0].q [gzip>json]"  # the contract column, unchanged
        (leak,) = load_leaks(db)
        assert (leak.path, leak.trail, leak.trail_text) == (
            "body.data[0].q",
            ("gzip", "json"),
            "gzip>json",
        )


@pytest.mark.parametrize(
    ("key", "trail"),
    [("body.note [draft]", ()), ("body.note [draft]", ("json",)), ("body.a [b>c]", ())],
)
def test_a_path_holding_a_bracket_and_space_is_read_back_unchanged(
    db_target: Target, key: str, trail: tuple[str, ...]
) -> None:
    with open_database(stored(db_target, health(key, trail))) as db:
        (leak,) = load_leaks(db)
    assert (leak.path, leak.trail) == (key, trail)


def test_the_flow_stores_its_severity_reason_once_and_its_vendor_company(db_target: Target) -> None:
    signature = parse_signature(
        {
            "id": "pixel",
            "name": "Pixel",
            "company": "Pixel Works Ltd.",
            "category": "analytics",
            "endpoints": [{"hosts": ["pixel.example"]}],
            "fields": {"page_url": ["dl"]},
        },
        "p.yaml",
    )
    analyzer = Analyzer(Catalogue([signature]), load_vocabulary())
    analysis = analyzer.analyse(
        Request("GET", "https://pixel.example/c?dl=https://h.example/conditions/asthma")
    )
    reason = "health data sent to an analytics tracker without an identifier"
    assert (analysis.severity_reason, analysis.vendor_company) == (reason, "Pixel Works Ltd.")
    with open_database(db_target) as db:
        with db.atomic():
            flow_id = write_record(db, Record(start_session(db, source="har"), analysis), False)
        flow = db.table("flows").get(flow_id)
        assert (flow["severity_reason"], flow["vendor_company"]) == (reason, "Pixel Works Ltd.")
        # Each finding's reason keeps the flow's after its own, as the column always had.
        assert all(r["reason"].endswith(f"; {reason}") for r in db.table("findings").rows)


def test_reports_take_the_company_from_the_flows_not_the_signature_files(db_target: Target) -> None:
    with open_database(stored(db_target, health("query.q"))) as db:
        findings = load_findings(db)
    (view,) = vendor_views(findings)
    assert (view.vendor, view.company) == ("t-vendor", "T Corp.")


@pytest.mark.parametrize("session", [None, 2])
def test_findings_read_in_batches_come_in_the_order_of_the_whole_list(
    db_target: Target, session: int | None
) -> None:
    db = open_database(many(db_target, 60))
    whole = load_leaks(db, session)
    batched = iter_leaks(db, session, batch=7)
    assert len(whole) > 7 * 5
    assert [leak.id for leak in batched] == [leak.id for leak in whole]
    assert list(iter_leaks(db, session, batch=7)) == whole
    assert count_leaks(db, session) == len(whole)
    db.close()


def test_an_overview_without_the_findings_has_everything_else(db_target: Target) -> None:
    db = open_database(many(db_target, 40))
    overview, full = load_findings(db, leaks=False), load_findings(db)
    db.close()
    assert overview.leaks == [] and full.leaks
    assert (overview.sessions, overview.parties) == (full.sessions, full.parties)
    assert (overview.total_flows, overview.endpoints) == (full.total_flows, full.endpoints)


def test_findings_read_in_batches_inside_a_snapshot_interleave_with_other_reads(
    db_target: Target,
) -> None:
    from phitrace.store.database import read_snapshot

    db = open_database(many(db_target, 60))
    whole = load_leaks(db)
    with read_snapshot(db):
        batched = iter_leaks(db, batch=7)
        first = [next(batched) for _ in range(10)]
        assert count_leaks(db) == len(whole)  # another statement while the cursor is open
        rest = list(batched)
    db.close()
    assert first + rest == whole
