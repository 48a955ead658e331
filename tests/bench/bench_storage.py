"""4. Storage: findings committed through ``store.Writer`` while the proxy runs.

Tracker requests from the corpus (every one of them recorded, with its raw
request) go through two mitmdump + phitrace processes side by side, a few
at a time so that the event loop is not saturated and its lag means
something; :mod:`addons.loop_lag` runs beside phitrace in both.  In one the
writer commits as usual, in the other its commits are skipped: the
difference in event-loop lag is what storage costs the loop.  Were SQLite
on the loop, every commit would stall it for the commit's length; off the
loop, the cost is at most sharing the GIL with the writer thread (one
switch interval).  Chunks alternate between the two so noise hits both.

Then the writer alone, on each engine: the same records submitted to a
``store.Writer`` on a SQLite file and on a throw-away PostgreSQL server
(started as the tests start theirs), timed until committed: the write
throughput each engine gives one recorder.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import sys
import time
from contextlib import closing
from pathlib import Path

from phitrace.cli.main import ADDON_SCRIPT
from phitrace.model import Analysis, Finding, Request
from phitrace.store.database import open_database
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.target import Target
from phitrace.store.writer import Writer
from tests.bench.bench_proxy_overhead import chunked, load
from tests.bench.figures import Figure, at_most, info
from tests.bench.harness import Context
from tests.bench.loopback import ADDONS, Mitmdump, Upstream, drive, percentile

TITLE = "4 storage"
STATS_URL = "http://bench-stats.invalid/"
TICK = 0.005
CONCURRENCY = 4


def stats(port: int) -> dict[str, list[float]]:
    """The loop-lag addon's samples since the last call."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", STATS_URL)
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def lags(samples: dict[str, list[float]]) -> list[float]:
    return samples["ticks"][1::2]


def commits(samples: dict[str, list[float]]) -> list[float]:
    return [
        end - start
        for start, end in zip(samples["commits"][::2], samples["commits"][1::2], strict=True)
    ]


def counts(db: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(db)) as conn, conn:
        flows = conn.execute("select count(*) from flows").fetchone()[0]
        findings = conn.execute("select count(*) from findings").fetchone()[0]
    return int(flows), int(findings)


def run(context: Context) -> list[Figure]:
    workdir = context.scratch("storage")
    total = context.size(2000, 400)
    db = workdir / "stored.db"
    lag = {"stored": [], "skipped": []}  # type: dict[str, list[float]]
    times: list[float] = []
    seconds = 0.0
    errors = 0
    with Upstream() as upstream:
        trackers = [p for p in load(upstream.port, 20_000) if p.tracker]
        proxies = {
            "stored": Mitmdump(
                workdir / "stored",
                [ADDON_SCRIPT, ADDONS / "loop_lag.py"],
                ["phitrace_sinkhole=true", f"phitrace_db={db}"],
            ),
            "skipped": Mitmdump(
                workdir / "skipped",
                [ADDON_SCRIPT, ADDONS / "loop_lag.py"],
                [
                    "phitrace_sinkhole=true",
                    f"phitrace_db={workdir / 'skipped.db'}",
                    "bench_store=false",
                ],
            ),
        }
        try:
            for proxy in proxies.values():
                drive(proxy.port, trackers[:200], CONCURRENCY)
            time.sleep(0.5)
            before = counts(db)
            for proxy in proxies.values():
                stats(proxy.port)
            for chunk in chunked(trackers, 250, total):
                for name, proxy in proxies.items():
                    started = time.monotonic()
                    errors += drive(proxy.port, chunk, CONCURRENCY).errors
                    if name == "stored":
                        seconds += time.monotonic() - started
            time.sleep(0.5)  # the last batch is due within the writer's interval
            for name, proxy in proxies.items():
                samples = stats(proxy.port)
                lag[name] = lags(samples)
                if name == "stored":
                    times = commits(samples)
            after = counts(db)
        finally:
            for proxy in proxies.values():
                proxy.stop()
    flows, findings = after[0] - before[0], after[1] - before[1]
    out = figures(lag, times, flows, findings, seconds)
    if errors:
        out.append(info(TITLE, "client errors", errors))
    return out + engines(context)


def _records(session: int, count: int) -> list[Record]:
    """Tracker requests as the proxy records them: a pixel hit with a body and two findings."""
    body = b"id=1&ev=Search&cd[search_string]=diabetes&fbp=fb.1.2.3&" + b"x" * 200
    found = (
        Finding(
            "health", "condition", "body.cd[search_string]", "diabetes", "diabetes", "r", "high"
        ),
        Finding("identifier", "cookie_id", "body.fbp", "fb.1.2.3", "fbp", "r", "low"),
    )
    return [
        Record(
            session,
            Analysis(
                Request("POST", f"https://www.facebook.com/tr/?rid={n}", (), body),
                "meta-pixel",
                findings=found,
                severity="high",
            ),
        )
        for n in range(count)
    ]


def writer_throughput(target: Target, count: int) -> float:
    """Records per second one ``Writer`` commits into ``target`` (submit to last commit)."""
    db = open_database(target)
    try:
        session = start_session(db, source="proxy", label="bench")
    finally:
        db.close()
    records = _records(session, count)
    writer = Writer(target, session_id=session)
    assert writer.flush(), "the writer did not start"
    started = time.monotonic()
    for record in records:
        writer.submit(record)
    assert writer.flush(timeout=600), "the writer did not finish"
    seconds = time.monotonic() - started
    writer.close()
    assert (writer.written, writer.failed) == (count, 0)
    return count / seconds


def engines(context: Context) -> list[Figure]:
    """The writer's throughput on a SQLite file and on a PostgreSQL server, side by side."""
    from tests.support.postgres import Server, find_binaries

    count = context.size(20_000, 2_000)
    figures = [
        info(
            TITLE,
            "writer throughput, SQLite",
            writer_throughput(context.scratch("engines") / "writer.db", count),
            "flows/s",
            note=f"{count:,} flows with 2 findings and a raw request each; synchronous=FULL",
        )
    ]
    binaries = find_binaries()
    if binaries is None:
        return [*figures, info(TITLE, "writer throughput, PostgreSQL", None, note="no server")]
    server = Server(binaries).start()
    try:
        rate = writer_throughput(server.target(), count)
    finally:
        server.stop()
    note = "loopback server with fsync off (as the tests run it): an upper bound"
    return [*figures, info(TITLE, "writer throughput, PostgreSQL", rate, "flows/s", note=note)]


def figures(
    lag: dict[str, list[float]], times: list[float], flows: int, findings: int, seconds: float
) -> list[Figure]:
    busy = sum(times)
    stored, skipped = (1000 * percentile(lag[k], 99) for k in ("stored", "skipped"))
    return [
        info(
            TITLE,
            "findings written/s, proxy running",
            findings / seconds,
            "/s",
            note=f"{flows:,} flows with {findings:,} findings in {seconds:.0f} s, "
            f"{CONCURRENCY} requests at once",
        ),
        info(
            TITLE,
            "writer capacity per commit second",
            findings / busy if busy else None,
            "findings/s",
            note=f"{len(times)} commits, busy {100 * busy / seconds:.0f} % of the time",
        ),
        info(
            TITLE,
            "commit p50",
            1000 * percentile(times, 50),
            "ms",
            note=f"longest {1000 * max(times, default=0):.0f} ms",
        ),
        info(
            TITLE,
            "loop lag p99, storage on",
            stored,
            "ms",
            note=f"p50 {1000 * percentile(lag['stored'], 50):.1f} ms",
        ),
        info(
            TITLE,
            "loop lag p99, commits skipped",
            skipped,
            "ms",
            note=f"p50 {1000 * percentile(lag['skipped'], 50):.1f} ms",
        ),
        at_most(
            TITLE,
            "loop lag p99 added by storage",
            stored - skipped,
            1000 * sys.getswitchinterval(),
            "ms",
        ),
        info(
            TITLE,
            "longest commit ÷ longest loop lag",
            max(times, default=0) / max(max(lag["stored"], default=0), 1e-9),
            "×",
            note="above 1: the loop ran while the longest commit did",
        ),
    ]
