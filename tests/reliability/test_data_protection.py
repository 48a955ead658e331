"""Data protection: private files, no bodies when asked, redacted storage, purge."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from tests.support.database import rows, wait_for_rows
from tests.support.loopback import insecure_context

from phitrace.cli.main import main
from phitrace.model import Analysis, Finding, Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.writer import Writer

MARKER = "zq7marker"
EMAIL = "jane.canary@example.org"
PAGE = "https://www.example.org/conditions/diabetes?q=" + MARKER
HIT = "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2&uid=42&dl=" + PAGE


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run with a permissive umask: privacy must not depend on the user's setting."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def file_bytes(db: Path) -> bytes:
    """Everything SQLite keeps on disk for a database: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in (db, Path(f"{db}-wal")) if p.exists())


def analysis(marker: str = MARKER) -> Analysis:
    request = Request(
        "POST",
        f"https://region1.google-analytics.com/g/collect?v=2&tid=G-1&dl=https%3A%2F%2F"
        f"www.example.org%2Fconditions%2Fdiabetes%3Fq%3D{marker}",
        (("Content-Type", "text/plain"), ("Referer", f"https://www.example.org/{marker}")),
        f"en=page_view&ep.note={marker}&uid={EMAIL}".encode(),
        1_700_000_000.0,
    )
    findings = (
        Finding("health", "condition", "query.dl", f"https://www.example.org/{marker}/diabetes",
                "diabetes", "page_url:condition", "high", "condition term"),
        Finding("identifier", "email", "body.uid", EMAIL, "email:field", "email:field", "high",
                "e-mail sent"),
    )  # fmt: skip
    return Analysis(
        request,
        "google-analytics",
        "Google Analytics",
        "analytics",
        f"https://www.example.org/conditions/diabetes?q={marker}",
        findings=findings,
        severity="high",
    )


def recorded_database(path: Path, sessions: int = 1, storage: str = "full") -> Path:
    for n in range(sessions):
        session = start_session(open_database(path), source="proxy", label=f"s{n}")
        writer = Writer(path, storage=storage)
        writer.submit(Record(session, analysis(f"{MARKER}{n}"), 200))
        writer.close()
    return path


# Files ----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_database_its_log_and_new_directories_are_private_under_any_umask(
    start_proxy,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    db = tmp_path / "new" / "nested" / "audit.db"
    with umask(0):
        proxy = start_proxy("phitrace_sinkhole=true", db=db)
    with httpx.Client(proxy=proxy.url, verify=insecure_context(False), timeout=20) as client:
        assert client.get(HIT).status_code in (200, 204)
    assert wait_for_rows(db, "select count(*) from flows", [(1,)]) == [(1,)]
    live = {p.name: mode(p) for p in db.parent.iterdir()}
    proxy.stop()
    assert live == {"audit.db": 0o600, "audit.db-wal": 0o600, "audit.db-shm": 0o600}
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "nested") == 0o700


def test_reports_and_evidence_bundles_are_private_under_any_umask(tmp_path: Path) -> None:
    db = recorded_database(tmp_path / "p.db")
    stale = tmp_path / "stale.html"
    stale.write_text("old")
    stale.chmod(0o644)
    runner = CliRunner()
    outputs = {
        "report.html": ["report", "--db", str(db), "-o", str(tmp_path / "report.html")],
        "report.json": ["report", "--db", str(db), "--format", "json", "-o",
                        str(tmp_path / "report.json")],
        "stale.html": ["report", "--db", str(db), "-o", str(stale)],
        "bundle.zip": ["export", "evidence", "--db", str(db), "-o", str(tmp_path / "bundle.zip")],
    }  # fmt: skip
    with umask(0):
        for args in outputs.values():
            result = runner.invoke(main, args)
            assert result.exit_code == 0, result.output
    assert {name: mode(tmp_path / name) for name in outputs} == dict.fromkeys(outputs, 0o600)


# What is stored ------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("store_bodies", [True, False])
def test_raw_bodies_are_stored_only_when_phitrace_store_bodies_is_on(
    start_proxy,  # type: ignore[no-untyped-def]
    store_bodies: bool,
) -> None:
    option = f"phitrace_store_bodies={str(store_bodies).lower()}"
    proxy = start_proxy("phitrace_sinkhole=true", option)
    body = f"en=page_view&ep.note={MARKER}body".encode()
    with httpx.Client(proxy=proxy.url, verify=insecure_context(False), timeout=20) as client:
        assert client.post(HIT, content=body).status_code in (200, 204)
    proxy.stop()
    assert rows(proxy.db, "select vendor from flows") == [("google-analytics",)]
    assert rows(proxy.db, "select count(*) from requests") == [(int(store_bodies),)]
    assert (f"{MARKER}body".encode() in file_bytes(proxy.db)) is store_bodies


def test_redact_storage_keeps_only_hashes_and_matched_terms(tmp_path: Path) -> None:
    db = recorded_database(tmp_path / "p.db", storage="redact")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("pragma wal_checkpoint(truncate)")
    ((url, page, sha),) = rows(db, "select url, page_url, request_sha256 from flows")
    findings = rows(db, "select kind, field, value, matched from findings order by kind")
    assert (url, page) == ("https://region1.google-analytics.com/", "https://www.example.org/")
    assert sha == analysis(f"{MARKER}0").request.sha256()
    assert [(k, f, m) for k, f, _, m in findings] == [
        ("health", "query.dl", "diabetes"),
        ("identifier", "body.uid", "email:field"),
    ]
    assert all(str(value).startswith("sha256:") for _, _, value, _ in findings)
    assert rows(db, "select count(*) from requests") == [(0,)]
    stored = file_bytes(db)
    assert MARKER.encode() not in stored and EMAIL.encode() not in stored


@pytest.mark.e2e
def test_a_proxy_in_redact_storage_mode_writes_no_captured_value_to_disk(
    start_proxy,  # type: ignore[no-untyped-def]
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", "phitrace_storage=redact")
    body = f"en=page_view&ep.note={MARKER}body&uid={EMAIL}".encode()
    with httpx.Client(proxy=proxy.url, verify=insecure_context(False), timeout=20) as client:
        assert client.post(HIT, content=body).status_code in (200, 204)
    output = proxy.stop()
    assert rows(proxy.db, "select url, vendor from flows") == [
        ("https://region1.google-analytics.com/", "google-analytics")
    ], output[-2000:]
    matched = rows(proxy.db, "select matched, substr(value, 1, 7) from findings")
    assert ("diabetes", "sha256:") in matched
    assert rows(proxy.db, "select count(*) from requests") == [(0,)]
    stored = file_bytes(proxy.db)
    assert MARKER.encode() not in stored and EMAIL.encode() not in stored


# Purge ---------------------------------------------------------------------------------------


def purge(db: Path, *args: str, answer: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["purge", "--db", str(db), *args], input=answer)
    return result.exit_code, result.output


def test_purge_deletes_a_session_and_leaves_no_trace_of_it_on_disk(tmp_path: Path) -> None:
    db = recorded_database(tmp_path / "p.db", sessions=3)
    code, output = purge(db, "--session", "2", "--yes")
    assert code == 0, output
    assert "deleted 1 session(s): 1 flows, 2 findings" in output
    assert rows(db, "select label from sessions order by id") == [("s0",), ("s2",)]
    assert rows(db, "select count(*) from flows where session_id = 2") == [(0,)]
    assert rows(db, "select count(*) from findings where session_id = 2") == [(0,)]
    assert rows(db, "select count(*) from requests") == [(2,)]
    assert rows(db, "pragma integrity_check") == [("ok",)]
    stored = file_bytes(db)
    assert f"{MARKER}1".encode() not in stored
    assert f"{MARKER}0".encode() in stored and f"{MARKER}2".encode() in stored


def test_purge_before_a_date_deletes_older_sessions_only(tmp_path: Path) -> None:
    db = recorded_database(tmp_path / "p.db", sessions=2)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("update sessions set started_at = '2020-05-01T10:00:00.000+00:00' where id=1")
        conn.commit()
    code, output = purge(db, "--before", "2021-01-01", "--yes")
    assert code == 0, output
    assert rows(db, "select label from sessions") == [("s1",)]


def test_purge_all_asks_first_and_does_nothing_unless_confirmed(tmp_path: Path) -> None:
    db = recorded_database(tmp_path / "p.db", sessions=2)
    code, output = purge(db, "--all", answer="n\n")
    assert code == 1 and "Delete 2 session(s), 2 flows and 4 findings" in output
    assert rows(db, "select count(*) from flows") == [(2,)]
    code, output = purge(db, "--all", answer="y\n")
    assert code == 0, output
    assert rows(db, "select count(*) from sessions") == [(0,)]
    assert rows(db, "select count(*) from findings") == [(0,)]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "choose one of --session ID, --before DATE or --all"),
        (("--all", "--session", "1"), 2, "choose one of"),
        (("--session", "9", "--yes"), 1, "no session 9"),
        (("--before", "yesterday"), 2, "Invalid value for '--before'"),
    ],
)
def test_purge_rejects_unclear_requests(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    db = recorded_database(tmp_path / "p.db")
    assert purge(db, *args)[0] == code
    assert message in purge(db, *args)[1]
    assert rows(db, "select count(*) from sessions") == [(1,)]
