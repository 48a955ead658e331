"""``--db`` targets: a file or a PostgreSQL URL, parsed once, shown without the password."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.model import Analysis, Request
from phitrace.store.database import DatabaseError, open_database
from phitrace.store.rows import Record
from phitrace.store.target import DB_ENV, PostgresTarget, default_target, files, parse_target
from phitrace.store.writer import Writer
from tests.support.postgres import Server


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("postgresql://qa@db.example:5432/phitrace", "postgresql://qa@db.example:5432/phitrace"),
        ("postgres://qa:s3cret@db.example/phitrace", "postgres://qa:***@db.example/phitrace"),
        ("postgresql://qa:p%40ss@[::1]:5433/team", "postgresql://qa:***@[::1]:5433/team"),
        ("POSTGRESQL://qa@h/d", "POSTGRESQL://qa@h/d"),
    ],
)
def test_a_url_is_a_server_shown_without_its_password(text: str, display: str) -> None:
    target = parse_target(text)
    assert isinstance(target, PostgresTarget)
    assert (target.url, str(target), target.display) == (text, display, display)
    assert "s3cret" not in repr(target) and "p%40ss" not in repr(target)
    assert files([target, Path("a.db")]) == (Path("a.db"),)


@pytest.mark.parametrize("text", ["phitrace.db", "runs/2026/p.db", "postgresql.db", "./x:y.db"])
def test_anything_else_is_a_sqlite_file(text: str) -> None:
    assert parse_target(text) == Path(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("postgresql://qa:s3cret@db.example:5432", "names no database"),
        ("postgresql://qa:s3cret@db.example:port/x", "not a valid PostgreSQL URL"),
    ],
)
def test_a_bad_url_is_refused_with_the_reason_and_no_password(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as raised:
        parse_target(text)
    assert "s3cret" not in str(raised.value)
    result = CliRunner().invoke(main, ["report", "--db", text])
    assert result.exit_code == 2 and reason in result.output
    assert "s3cret" not in result.output


def test_the_environment_names_the_default_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_ENV, raising=False)
    assert default_target() == "phitrace.db"
    monkeypatch.setenv(DB_ENV, "postgresql://qa@db.example/team")
    assert default_target() == "postgresql://qa@db.example/team"


def test_phitrace_db_in_the_environment_is_used_by_commands(
    postgres_server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = postgres_server.target()
    open_database(target).close()
    monkeypatch.setenv(DB_ENV, target.url)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(main, ["report", "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert '"sessions": []' in out.read_text()


def test_the_password_can_come_from_pgpassword(
    postgres_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = postgres_server.create_database()
    target = parse_target(postgres_server.url(name, password=False))
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    with open_database(target) as db:
        assert "sessions" in db.table_names()


def test_a_wrong_password_is_one_line_without_any_password(
    postgres_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    name = postgres_server.create_database()
    wrong = postgres_server.url(name).replace(postgres_server.password, "Wr0ngPassw0rd")
    with pytest.raises(DatabaseError, match="cannot connect to postgresql://phitrace:\\*\\*\\*@"):
        open_database(parse_target(wrong))
    result = CliRunner().invoke(main, ["check", "--db", wrong])
    assert result.exit_code == 2 and "password authentication failed" in result.output
    with caplog.at_level(logging.DEBUG):
        writer = Writer(wrong)
        writer.submit(Record(1, Analysis(Request("GET", "https://t.example/"), "t")))
        writer.close()
    assert writer.failed == 1
    assert "postgresql://phitrace:***@" in caplog.text
    for secret in ("Wr0ngPassw0rd", postgres_server.password):
        assert secret not in result.output and secret not in caplog.text


def test_a_url_without_its_password_keeps_everything_else() -> None:
    target = parse_target("postgresql://qa:p%40ss@db.example:5433/team?sslmode=require")
    assert isinstance(target, PostgresTarget)
    assert target.password == "p@ss"
    assert target.without_password() == "postgresql://qa@db.example:5433/team?sslmode=require"
    plain = parse_target("postgresql://db.example/team")
    assert isinstance(plain, PostgresTarget)
    assert (plain.password, plain.without_password()) == (None, "postgresql://db.example/team")


def test_a_server_that_does_not_answer_is_given_up_on_in_one_line() -> None:
    from tests.ports import free_port

    url = f"postgresql://qa:s3cret@127.0.0.1:{free_port()}/team?connect_timeout=2"
    result = CliRunner().invoke(main, ["report", "--db", url])
    assert result.exit_code == 1
    assert "cannot connect to postgresql://qa:***@127.0.0.1:" in result.output
    assert "s3cret" not in result.output and len(result.output.strip().splitlines()) == 1
