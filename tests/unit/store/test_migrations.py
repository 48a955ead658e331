"""Schema steps: an old database is brought up to date once, and says which steps it has."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
import sqlite_utils

from phitrace.store.database import (
    ForeignDatabase,
    OutdatedDatabase,
    open_database,
    open_database_readonly,
)
from phitrace.store.engine import Store, store_errors
from phitrace.store.migrations import (
    MIGRATIONS,
    MIGRATIONS_TABLE,
    Migration,
    applied_migrations,
    migrate,
)
from phitrace.store.reader import load_leaks
from phitrace.store.schema import SCHEMA
from phitrace.store.target import PostgresTarget, Target

STEPS = [m.name for m in MIGRATIONS]

PREVIOUS_SCHEMA = """
create table sessions (id integer primary key, started_at text, ended_at text, label text,
    source text, phitrace_version text, signatures_digest text, input text, consent text,
    scope text, errors integer);
create table flows (id integer primary key, session_id integer references sessions(id),
    timestamp text, method text, url text, host text, page_url text, vendor text,
    vendor_name text, tracker_category text, status_code integer, request_sha256 text,
    blocked integer, redacted text, severity text, endpoint_role text, truncated text);
create table findings (id integer primary key, flow_id integer references flows(id),
    session_id integer references sessions(id), vendor text, kind text, category text,
    field text, value text, matched text, severity text, rule text, reason text);
create table requests (flow_id integer primary key references flows(id), headers text,
    body blob);
insert into sessions (id, started_at, source) values (1, '2026-01-01T00:00:00.000+00:00', 'har');
insert into flows (id, session_id, method, url, host, vendor, severity)
    values (1, 1, 'GET', 'https://t.example/c', 't.example', 'meta-pixel', 'medium');
insert into findings (id, flow_id, session_id, vendor, kind, category, field, value, matched,
    severity, rule, reason)
    values (1, 1, 1, 'meta-pixel', 'health', 'condition', 'body.line[1].q [lines>form]',
        'diabetes', 'diabetes', 'medium', 'r', 'why');
"""
"""A database as the release before recorded migrations wrote it, with one finding."""


def previous_database(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executescript(PREVIOUS_SCHEMA)
    conn.close()
    return path


def columns(db: Store) -> dict[str, set[str]]:
    return {name: set(db.table(name).columns_dict) for name in SCHEMA}


@contextmanager
def open_database_at(target: Target, steps: tuple[Migration, ...]) -> Iterator[Store]:
    """A database on either engine with only ``steps`` applied, as an older release left it."""
    if isinstance(target, PostgresTarget):
        from phitrace.store.postgres import PgDatabase, connect

        db: Store = PgDatabase(connect(target), target)
    else:
        db = sqlite_utils.Database(target)
    try:
        migrate(db, steps)
        yield db
    finally:
        db.close()


def test_a_new_database_has_every_step_and_exactly_the_contract() -> None:
    with sqlite_utils.Database(memory=True) as db:
        assert migrate(db) == STEPS
        assert applied_migrations(db) == STEPS
        assert columns(db) == {name: set(wanted) for name, wanted in SCHEMA.items()}


def test_a_database_of_the_previous_schema_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    path = previous_database(tmp_path / "old.db")
    with open_database(path) as db:
        assert applied_migrations(db) == STEPS
        assert {"path", "trail"} <= columns(db)["findings"]
        assert {"severity_reason", "vendor_company"} <= columns(db)["flows"]
        (leak,) = load_leaks(db)
        # Written before the path column: its path and trail come from the joined text.
        assert (leak.path, leak.trail, leak.matched) == (
            "body.line[1].q",
            ("lines", "form"),
            "diabetes",
        )


def test_opening_twice_applies_nothing_twice(tmp_path: Path) -> None:
    path = previous_database(tmp_path / "old.db")
    open_database(path).close()
    with open_database(path) as db:
        assert migrate(db) == []
        rows = list(db.table(MIGRATIONS_TABLE).rows)
        assert [r["name"] for r in rows] == STEPS and all(r["applied_at"] for r in rows)


def test_a_database_missing_only_a_later_step_gets_only_that_step(tmp_path: Path) -> None:
    with sqlite_utils.Database(memory=True) as db:
        assert migrate(db, MIGRATIONS[:1]) == STEPS[:1]
        assert "path" not in columns(db)["findings"]
        assert migrate(db) == STEPS[1:]
        assert applied_migrations(db) == STEPS


def test_a_failing_step_leaves_nothing_half_applied() -> None:
    def broken(db: sqlite_utils.Database) -> None:
        db.table("findings").add_column("half", str)
        raise RuntimeError("step failed")

    with sqlite_utils.Database(memory=True) as db:
        migrate(db)
        with pytest.raises(RuntimeError, match="step failed"):
            migrate(db, (*MIGRATIONS, Migration("0099_broken", broken)))
        assert "half" not in columns(db)["findings"]
        assert applied_migrations(db) == STEPS


def test_a_database_before_the_policy_step_gains_the_column_and_keeps_null_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "before-policy.db"
    with sqlite_utils.Database(path) as db:
        migrate(db, MIGRATIONS[: STEPS.index("0008_finding_policy")])
        assert "policy" not in columns(db)["findings"]
        db["sessions"].insert({"id": 1, "source": "har"})
        db["flows"].insert({"id": 1, "session_id": 1, "url": "https://t.example/c"})
        db["findings"].insert(
            {"id": 1, "flow_id": 1, "session_id": 1, "kind": "health", "category": "condition"}
        )
    with open_database(path) as db:
        assert applied_migrations(db) == STEPS and "0008_finding_policy" in STEPS
        (leak,) = load_leaks(db)
        assert leak.policy is None


def test_a_database_before_the_authenticated_step_gains_the_columns_as_null(
    tmp_path: Path,
) -> None:
    path = tmp_path / "before-authenticated.db"
    with sqlite_utils.Database(path) as db:
        migrate(db, MIGRATIONS[:8])
        assert "authenticated" not in columns(db)["flows"]
        db["sessions"].insert({"id": 1, "source": "har"})
        db["flows"].insert({"id": 1, "session_id": 1, "url": "https://t.example/c"})
    with open_database(path) as db:
        assert STEPS[8] == "0009_flow_authenticated"
        assert {"authenticated", "authenticated_reason"} <= columns(db)["flows"]
        row = next(db.query("select authenticated, authenticated_reason from flows"))
        assert row == {"authenticated": None, "authenticated_reason": None}


def test_a_database_before_the_gpc_step_gains_flow_and_session_gpc_as_null(
    tmp_path: Path,
) -> None:
    path = tmp_path / "before-gpc.db"
    with sqlite_utils.Database(path) as db:
        migrate(db, MIGRATIONS[:9])
        assert "gpc" not in columns(db)["flows"] and "gpc" not in columns(db)["sessions"]
        db["sessions"].insert({"id": 1, "source": "har"})
        db["flows"].insert({"id": 1, "session_id": 1, "url": "https://t.example/c"})
    with open_database(path) as db:
        assert STEPS[9] == "0010_gpc"
        assert next(db.query("select gpc from flows")) == {"gpc": None}
        assert next(db.query("select gpc from sessions")) == {"gpc": None}


def test_a_new_database_on_either_engine_has_every_step_and_exactly_the_contract(
    db_target: Target,
) -> None:
    with open_database(db_target) as db:
        assert applied_migrations(db) == STEPS
        assert columns(db) == {name: set(wanted) for name, wanted in SCHEMA.items()}
        assert migrate(db) == []


def test_an_older_database_on_either_engine_gets_only_its_missing_steps_and_session_uids(
    db_target: Target,
) -> None:
    with open_database_at(db_target, MIGRATIONS[:10]) as db:
        assert "uid" not in columns(db)["sessions"]
        for n in range(3):
            db["sessions"].insert({"id": n + 1, "source": "har", "started_at": f"2026-01-0{n + 1}"})
    with open_database(db_target) as db:
        assert applied_migrations(db) == STEPS and STEPS[10] == "0011_session_uid"
        uids = [row["uid"] for row in db.query("select uid from sessions order by id")]
        assert len(set(uids)) == 3 and all(str(uuid.UUID(uid)) == uid for uid in uids)
        with pytest.raises(store_errors(), match="(?i)unique"):
            db.execute("update sessions set uid = ? where id = 2", [uids[0]])


def test_a_failing_step_on_postgresql_leaves_nothing_half_applied(pg_target: Target) -> None:
    def broken(db: Store) -> None:
        db.table("findings").add_column("half", str)
        raise RuntimeError("step failed")

    with open_database(pg_target) as db:
        with pytest.raises(RuntimeError, match="step failed"):
            migrate(db, (*MIGRATIONS, Migration("0099_broken", broken)))
        assert "half" not in columns(db)["findings"]
        assert applied_migrations(db) == STEPS


def test_postgresql_refuses_a_database_holding_another_programs_tables(
    pg_target: PostgresTarget,
) -> None:
    import psycopg

    with psycopg.connect(pg_target.url, autocommit=True) as conn:
        conn.execute(b"create table invoices (id int primary key, total numeric)")
    with pytest.raises(ForeignDatabase, match="another program"):
        open_database(pg_target)


def test_a_read_only_open_of_an_older_database_on_either_engine_names_it_and_says_what_to_do(
    db_target: Target,
) -> None:
    with open_database_at(db_target, MIGRATIONS[:10]):
        pass
    with pytest.raises(OutdatedDatabase) as refused:
        open_database_readonly(db_target)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{db_target} needs a schema upgrade (")
    assert ", ".join(STEPS[10:]) in message and message.endswith(", then retry")
    remedy = "may change its tables" if isinstance(db_target, PostgresTarget) else "writable"
    assert remedy in message
    with open_database(db_target) as db:
        assert applied_migrations(db) == STEPS
    open_database_readonly(db_target).close()
