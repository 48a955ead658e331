"""The PostgreSQL store's translation of portable SQL, and what it stores as SQLite does."""

from __future__ import annotations

from pathlib import Path

import pytest

from phitrace.store.database import open_database
from phitrace.store.postgres import storable, translate
from phitrace.store.target import PostgresTarget
from tests.support.postgres import Server


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


def test_processes_opening_a_new_database_at_once_apply_each_step_once(
    pg_target: PostgresTarget,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from phitrace.store.migrations import MIGRATIONS, applied_migrations

    def open_and_close(_: int) -> list[str]:
        with open_database(pg_target) as db:
            return applied_migrations(db)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(open_and_close, range(4)))
    assert results == [[m.name for m in MIGRATIONS]] * 4


def test_a_role_that_may_only_select_can_report(
    postgres_server: Server, pg_target: PostgresTarget, tmp_path: Path
) -> None:
    import psycopg
    from click.testing import CliRunner

    from phitrace.cli.main import main
    from tests.support.seeded_db import clinic

    clinic(pg_target)
    database = pg_target.url.rpartition("/")[2]
    with psycopg.connect(pg_target.url, autocommit=True) as conn:
        conn.execute(b"create role auditor login password 'auditor-pw'")
        conn.execute(b"grant select on all tables in schema public to auditor")
    reader = f"postgresql://auditor:auditor-pw@127.0.0.1:{postgres_server.port}/{database}"
    out = tmp_path / "r.md"
    result = CliRunner().invoke(main, ["report", "--db", reader, "--format", "md", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Meta Pixel" in out.read_text(encoding="utf-8")
    purge = CliRunner().invoke(main, ["purge", "--db", reader, "--all", "--yes"])
    assert purge.exit_code == 1 and "permission denied" in purge.output
    assert "auditor-pw" not in purge.output
