"""The least-privilege roles docs/team.md tells a team to create: each can do its job, no more.

The SQL is read from the document itself, so the advice and this test cannot drift apart.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from phitrace.model import Analysis, Request
from phitrace.store.database import open_database
from phitrace.store.push import push
from phitrace.store.rows import Record
from phitrace.store.sessions import end_session, start_session
from phitrace.store.target import PostgresTarget, parse_target
from phitrace.store.writer import Writer
from tests.support.postgres import Server
from tests.support.seeded_db import clinic

TEAM_DOC = Path(__file__).resolve().parents[3] / "docs" / "team.md"
ROLES = ("phitrace_writer", "phitrace_reader")


def _documented_grants() -> str:
    blocks = re.findall(r"```sql\n(.*?)```", TEAM_DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/team.md has one SQL block: the roles"
    return "\n".join(line.strip() for line in blocks[0].splitlines())


@pytest.fixture
def roles(postgres_server: Server) -> Iterator[dict[str, PostgresTarget]]:
    """A database whose tables its owner made, and the documented roles, with passwords."""
    owner = postgres_server.target()
    open_database(owner).close()  # the first run, as the owner, creates the tables
    password = secrets.token_urlsafe(12)
    with psycopg.connect(owner.url, autocommit=True) as conn:
        conn.execute(_documented_grants().encode())
        for role in ROLES:
            conn.execute(f"alter role {role} password '{password}'".encode())
    base = owner.url.rsplit("@", 1)[1]
    targets = {r: parse_target(f"postgresql://{r}:{password}@{base}") for r in ROLES}
    yield {r: t for r, t in targets.items() if isinstance(t, PostgresTarget)}
    with psycopg.connect(owner.url, autocommit=True) as conn:
        for role in ROLES:
            conn.execute(f"drop owned by {role}".encode())
            conn.execute(f"drop role {role}".encode())


def _record(session: int) -> Record:
    request = Request("GET", "https://www.facebook.com/tr/?id=1&ev=PageView", (), b"")
    return Record(session, Analysis(request, "meta-pixel"))


def test_the_writer_role_records_and_pushes(
    roles: dict[str, PostgresTarget], tmp_path: Path
) -> None:
    db = open_database(roles["phitrace_writer"])
    try:
        session = start_session(db, source="proxy", label="as the writer role")
    finally:
        db.close()
    writer = Writer(roles["phitrace_writer"], session_id=session)
    for _ in range(3):
        writer.submit(_record(session))
    writer.close()
    assert (writer.written, writer.failed) == (3, 0)
    db = open_database(roles["phitrace_writer"])
    try:
        end_session(db, session)
        laptop = open_database(clinic(tmp_path / "laptop.db"))
        try:
            assert push(laptop, db).sessions == 1
        finally:
            laptop.close()
    finally:
        db.close()


def test_the_reader_role_reports_and_cannot_write(roles: dict[str, PostgresTarget]) -> None:
    db = open_database(roles["phitrace_writer"])
    try:
        end_session(db, start_session(db, source="proxy"))
    finally:
        db.close()
    reader = roles["phitrace_reader"]
    command = [sys.executable, "-m", "phitrace", "report", "--db", reader.url, "--format", "json"]
    result = subprocess.run([*command, "-o", "-"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with (
        psycopg.connect(reader.url, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(b"delete from sessions")
