"""The HTML report written while the database is read is the report of the loaded session."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from phitrace.assess.policy import Policy
from phitrace.assess.policy_file import load_policy
from phitrace.cli.policy import judge_leaks, judged_source, leak_judge
from phitrace.report.html import ReportContext, context_for, environment, json_pieces, stream_html
from phitrace.report.streamed_html import streamed_context
from phitrace.store.database import open_database, read_snapshot
from phitrace.store.reader import iter_leaks, load_findings
from tests.support.seeded_db import (
    GENERATED_AT,
    clinic,
    consent_pair,
    logged_in_portal,
    many,
    portal,
)

SEEDS: dict[str, Callable[[Path], Path]] = {
    "clinic": clinic,
    "consent pair": consent_pair,
    "logged-in portal": logged_in_portal,
    "portal": portal,
    "many sessions": lambda path: many(path, 700),
}

POLICY = """\
covered_vendors: [meta-pixel]
allow:
  - vendor: google-analytics
    pages: ["https://clinic.example/conditions/page-1*"]
severity:
  condition: low
  user_id: high
"""


@pytest.fixture(scope="module", params=sorted(SEEDS))
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SEEDS[request.param](tmp_path_factory.mktemp("streamed") / "seeded.db")


@pytest.fixture(scope="module")
def many_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return many(tmp_path_factory.mktemp("many") / "many.db", 1_200)


def _fixed(context: ReportContext) -> ReportContext:
    context.generated_at = GENERATED_AT
    return context


def streamed(path: Path, session: int | None = None, policy: Policy | None = None) -> str:
    db = open_database(path)
    try:
        with read_snapshot(db):
            source = judged_source(policy, lambda: iter_leaks(db, session))
            context = _fixed(streamed_context(db, session, source, leak_judge(policy)))
            return "".join(stream_html(context))
    finally:
        db.close()


def loaded(path: Path, session: int | None = None, policy: Policy | None = None) -> str:
    db = open_database(path)
    try:
        findings = load_findings(db, session, raw=True)
    finally:
        db.close()
    findings.leaks = judge_leaks(policy, findings.leaks)
    return "".join(stream_html(_fixed(context_for(findings))))


def test_the_streamed_report_is_the_loaded_report(seeded: Path) -> None:
    page = streamed(seeded)
    assert 'id="phitrace-data"' in page
    assert page == loaded(seeded)


def test_one_session_of_several_streams_alike(many_db: Path) -> None:
    assert streamed(many_db, 2) == loaded(many_db, 2)


def test_a_policy_judges_the_streamed_report_as_the_loaded_one(
    many_db: Path, tmp_path: Path
) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(POLICY)
    policy = load_policy(file)
    page = streamed(many_db, policy=policy)
    assert page != streamed(many_db)  # the policy changed severities and accepted findings
    assert page == loaded(many_db, policy=policy)


def test_the_cards_are_read_only_as_the_report_is_written(many_db: Path) -> None:
    db = open_database(many_db)
    try:
        context = streamed_context(db, None, lambda: iter_leaks(db), None)
        rows = context.data["cards"]
        assert isinstance(rows, Iterator)
        first = next(rows)
        rows.close()
        findings = load_findings(db, raw=True)
    finally:
        db.close()
    assert first == context_for(findings).data["cards"][0]


@pytest.mark.parametrize(
    ("data", "lazy"),
    [
        ({"page_size": 2, "cards": [], "columns": {"card": ("a", "b")}}, False),
        ({"cards": [["</script><b>x</b>", "O'Brien & co", 1.5, None, [True]]] * 5, "n": 3}, False),
        ({"cards": [["ü", {"z": 1, "a": 2}], ["\u2028"]]}, True),
    ],
)
def test_json_pieces_are_the_text_of_tojson(data: dict[str, Any], lazy: bool) -> None:
    env = environment()
    given: dict[str, object] = {**data, "cards": iter(data["cards"])} if lazy else dict(data)
    pieces = list(json_pieces(given, batch=2))
    assert "".join(pieces) == env.from_string("{{ d|tojson }}").render(d=data)
    assert not any("<" in piece or "'" in piece for piece in pieces)


def _peak(write: Callable[[], Iterator[str]]) -> int:
    """The most memory Python held while the report was written, beyond what it held before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _piece in write():
            pass
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def _streamed_pieces(db: sqlite_utils.Database) -> Callable[[], Iterator[str]]:
    return lambda: stream_html(streamed_context(db, None, lambda: iter_leaks(db), None))


def test_the_stream_holds_a_page_of_cards_however_many_there_are(tmp_path: Path) -> None:
    held: dict[int, int] = {}
    for flows in (400, 1_600):
        db = open_database(many(tmp_path / f"{flows}.db", flows))
        try:
            _peak(_streamed_pieces(db))  # warms the caches every report shares (patterns, domains)
            held[flows] = _peak(_streamed_pieces(db))
            whole = _peak(lambda: stream_html(context_for(load_findings(db, raw=True))))  # noqa: B023
        finally:
            db.close()
    assert held[1_600] < 1.5 * held[400], held  # four times the cards, about the same memory
    assert held[1_600] < whole / 3, (held, whole)
