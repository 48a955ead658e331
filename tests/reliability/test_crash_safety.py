"""Crash safety: a clean stop commits every queued flow; SIGKILL costs at most the last batch."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils
from tests.support.database import rows
from tests.support.loopback import Result, rid_of, send, tracker_request
from tests.support.proxy import running

from phitrace.model import Analysis, Finding, Request
from phitrace.proxy.addon import PhiTrace
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.writer import Writer

pytestmark = pytest.mark.e2e

BATCH_WINDOW = 1.0  # seconds: the most a crash may cost (the writer commits every 0.25 s)


def recorded_rids(db: Path) -> list[str]:
    return [rid_of(str(url)) for (url,) in rows(db, "select url from flows")]


@pytest.mark.slow
def test_sigterm_mid_load_commits_every_answered_flow(
    start_proxy,  # type: ignore[no-untyped-def]
    figures: Callable[[str], None],
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", "flow_detail=0")
    planned = [tracker_request(n, http2=n % 3 == 0) for n in range(2000)]
    answered: set[str] = set()
    at_sigterm: list[int] = []  # (answered, committed) when SIGTERM was sent

    def stop_when_busy(result: Result) -> None:
        if result.status in (200, 204):
            answered.add(result.planned.rid)
        if len(answered) == 800 and not at_sigterm:
            ((committed,),) = rows(proxy.db, "select count(*) from flows")
            at_sigterm.extend((len(answered), committed))
            proxy.process.terminate()

    send(proxy.url, planned, concurrency=50, on_result=stop_when_busy)
    output = proxy.stop()

    recorded = recorded_rids(proxy.db)
    figures(
        f"SIGTERM mid-load: sent after {at_sigterm[0]} answers, with {at_sigterm[1]} flows "
        f"committed; {len(recorded)} recorded after shutdown ({len(recorded) - at_sigterm[1]} "
        f"committed by the clean stop), {len(answered)} answered in all, "
        f"{len(answered - set(recorded))} answered but lost"
    )
    assert at_sigterm and proxy.process.returncode is not None
    # Every request that got its answer went through phitrace's response hook: its
    # record was queued, and a clean stop commits the queue.
    assert answered <= set(recorded), output[-2000:]
    assert len(recorded) == len(set(recorded))
    assert rows(proxy.db, "select errors, ended_at is not null from sessions") == [(0, 1)]


@pytest.mark.slow
def test_sigkill_mid_load_leaves_a_sound_database_missing_at_most_the_last_batch(
    start_proxy,  # type: ignore[no-untyped-def]
    figures: Callable[[str], None],
) -> None:
    proxy = start_proxy("phitrace_sinkhole=true", "flow_detail=0")
    planned = [tracker_request(n, http2=n % 2 == 0) for n in range(4000)]
    answered: dict[str, float] = {}
    killed_at = 0.0

    def kill_when_busy(result: Result) -> None:
        nonlocal killed_at
        if result.status in (200, 204) and not killed_at:
            answered[result.planned.rid] = result.received_at
            if len(answered) == 800:
                proxy.process.kill()
                killed_at = time.monotonic()

    send(proxy.url, planned, concurrency=50, on_result=kill_when_busy)
    proxy.process.wait(10)

    with closing(sqlite3.connect(proxy.db)) as conn:
        integrity = conn.execute("pragma integrity_check").fetchall()
    recorded = recorded_rids(proxy.db)
    lost = set(answered) - set(recorded)
    window = killed_at - min((answered[rid] for rid in lost), default=killed_at)
    figures(
        f"SIGKILL after {len(answered)} answered: {len(recorded)} recorded, {len(lost)} lost, "
        f"covering the last {window * 1000:.0f} ms before the kill; integrity {integrity}"
    )
    assert killed_at > 0
    assert integrity == [("ok",)]
    assert len(recorded) == len(set(recorded))
    assert set(recorded) <= {p.rid for p in planned}
    assert window <= BATCH_WINDOW
    # The database keeps working: the next run opens it and records a new session.
    assert start_session(open_database(proxy.db), source="proxy") == 2


def test_writer_commits_a_record_within_its_interval_without_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    session = start_session(open_database(path), source="proxy")
    writer = Writer(path, interval=0.05)
    request = Request("GET", "https://www.facebook.com/tr/?id=1")
    writer.submit(Record(session, Analysis(request, vendor="meta-pixel")))
    deadline = time.monotonic() + 10
    while not rows(path, "select 1 from flows") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rows(path, "select vendor from flows") == [("meta-pixel",)]
    writer.close()


GA4 = (
    "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
    "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes&rid={}"
)


def tracker_flow(n: int) -> http.HTTPFlow:
    host, _, path = GA4.format(n).removeprefix("https://").partition("/")
    request = tutils.treq(
        method=b"POST", scheme=b"https", host=host, port=443, path=b"/" + path.encode()
    )
    return tflow.tflow(req=request, resp=True)


async def test_done_commits_answered_and_unanswered_flows(tmp_path: Path) -> None:
    addon = PhiTrace()
    db = tmp_path / "p.db"
    with running(addon, phitrace_db=str(db)) as (tctx, hooks):
        flows = [tracker_flow(n) for n in range(600)]
        for flow in flows:
            hooks.request(flow)
        for flow in flows[:500]:
            hooks.response(flow)
        hooks.done()
    statuses = rows(db, "select status_code is null, count(*) from flows group by 1 order by 1")
    assert statuses == [(0, 500), (1, 100)]
    assert rows(db, "select errors, ended_at is not null from sessions") == [(0, 1)]


def test_a_record_that_cannot_be_written_costs_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    session = start_session(open_database(path), source="proxy")
    request = Request("GET", "https://www.facebook.com/tr/?id=1")
    poison = Analysis(request, "meta-pixel", findings=(Finding("health", "condition", "f",
                      object(), "x", "r"),))  # type: ignore[arg-type]  # fmt: skip
    writer = Writer(path, interval=5)  # one batch: the poison record shares it with 99 others
    for n in range(100):
        writer.submit(Record(session, poison if n == 50 else Analysis(request, "meta-pixel")))
    writer.close()
    assert (writer.written, writer.failed) == (99, 1)
    assert rows(path, "select count(*) from flows") == [(99,)]


def test_a_database_that_cannot_be_opened_counts_failures_instead_of_raising(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    writer = Writer(blocker / "p.db")  # a directory that cannot exist
    for _ in range(10):
        writer.submit(Record(1, Analysis(Request("GET", "https://www.facebook.com/tr/"))))
    writer.close()
    assert (writer.written, writer.failed) == (0, 10)
