"""The PostgreSQL store's translation of portable SQL, and what it stores as SQLite does."""

from __future__ import annotations

import pytest

from phitrace.store.database import open_database
from phitrace.store.postgres import storable, translate
from phitrace.store.target import PostgresTarget


@pytest.mark.parametrize(
    ("portable", "postgres"),
    [
        ("select * from t where id = ?", "select * from t where id = %s"),
        (
            "insert into [t] ([a b], [c]) values (?, ?)",
            'insert into "t" ("a b", "c") values (%s, %s)',
        ),
        (
            "select '?' || [x] from t where y like '50%'",
            "select '?' || \"x\" from t where y like '50%%'",
        ),
        ('select "[q]?" from t', 'select "[q]?" from t'),
        ("select 'it''s ?', ? % 2", "select 'it''s ?', %s %% 2"),
    ],
)
def test_portable_sql_is_translated_once_outside_quotes(portable: str, postgres: str) -> None:
    assert translate(portable) == postgres


def test_text_that_postgresql_cannot_hold_is_escaped_and_nothing_else_changes() -> None:
    assert storable("a\x00b") == "a\\x00b"
    assert [storable(v) for v in ("ü?%", b"\x00", 7, None)] == ["ü?%", b"\x00", 7, None]


def test_quoted_percent_signs_and_question_marks_reach_the_server_unchanged(
    pg_target: PostgresTarget,
) -> None:
    with open_database(pg_target) as db:
        row = db.execute("select '50% ?', ?, [label] from sessions where 1 = 0 or ? = 1", ["x", 1])
        assert row.fetchall() == []
        value = db.execute("select '50% ?' || ?", ["!"]).fetchone()[0]
    assert value == "50% ?!"


def test_sums_of_integers_come_back_as_integers(pg_target: PostgresTarget) -> None:
    with open_database(pg_target) as db:
        total, half = db.execute("select sum(x), avg(x) from (values (1), (2)) v (x)").fetchone()
    assert (type(total), total, half) == (int, 3, 1.5)
