"""Many recorders and one PostgreSQL database: real mitmdump proxies and scans, on loopback.

Four proxies and two scans write into one database at once while ``report``
and ``check`` read it; then one proxy keeps recording while the server is
restarted under it.  Every process connects with the password in
``PGPASSWORD``, as a team's machines would, never in the URL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.har import write_har
from tests.support.loopback import Mitmdump, Traffic, rid_of, send, tracker_request
from tests.support.postgres import Server
from tests.support.restart import pg_ctl, restartable_server  # noqa: F401 - fixture

from phitrace.cli.main import ADDON_SCRIPT
from phitrace.store.database import open_database

pytestmark = pytest.mark.e2e

PROXIES = 4
PER_PROXY = 400
SCANS = 2
PER_SCAN = 250
CONCURRENCY = 16
READ_ROUNDS = 4
"""Each round runs ``report`` and ``check`` once, while the recorders write."""


def _url(server: Server, database: str) -> str:
    return server.url(database, password=False)


def _query(server: Server, database: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(server.url(database), connect_timeout=5) as conn:
        return list(conn.execute(sql.encode()).fetchall())


def _proxy(tmp_path: Path, name: str, url: str, *options: str) -> Mitmdump:
    settings = ["phitrace_sinkhole=true", "flow_detail=0", f"phitrace_db={url}"]
    return Mitmdump(
        tmp_path / name, [ADDON_SCRIPT], [*settings, f"phitrace_label={name}", *options]
    )


def _scan(tmp_path: Path, number: int, url: str) -> tuple[subprocess.Popen[str], set[str]]:
    """A ``phitrace scan`` of a HAR file of tracker requests; returns the process and its rids."""
    rids = {f"s{number}x{n}" for n in range(PER_SCAN)}
    urls = [f"https://www.facebook.com/tr/?id=1&ev=PageView&rid={rid}" for rid in sorted(rids)]
    har = write_har(tmp_path / f"scan-{number}.har", urls)
    command = [sys.executable, "-m", "phitrace", "scan", str(har), "--db", url]
    process = subprocess.Popen(
        [*command, "--label", f"scan-{number}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, rids


def _phitrace(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "phitrace", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _consistent_report(url: str) -> tuple[int, int]:
    """Run ``report --format json`` once: its summary agrees with its rows; (findings, flows)."""
    result = _phitrace("report", "--db", url, "--format", "json", "-o", "-")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    summary = document["summary"]
    assert summary["findings"] == len(document["findings"])
    assert sum(summary["by_severity"].values()) == summary["findings"]
    return summary["findings"], summary["tracker_flows"]


@pytest.fixture
def password(postgres_server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's password, where libpq looks for it: every child process inherits it."""
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    return postgres_server.password


def test_four_proxies_and_two_scans_write_every_flow_once_while_readers_read(
    postgres_server: Server,
    password: str,
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    database = postgres_server.create_database()
    url = _url(postgres_server, database)
    open_database(url).close()  # the schema, once, before the recorders race for it
    started = time.monotonic()
    proxies = [_proxy(tmp_path, f"proxy-{i}", url) for i in range(PROXIES)]
    plans = [
        [tracker_request(n, http2=n % 2 == 0) for n in range(i * PER_PROXY, (i + 1) * PER_PROXY)]
        for i in range(PROXIES)
    ]
    traffic: list[Traffic] = []
    senders = [
        threading.Thread(
            target=lambda p=p, plan=plan: traffic.append(send(p.url, plan, CONCURRENCY))
        )
        for p, plan in zip(proxies, plans, strict=True)
    ]
    for sender in senders:
        sender.start()
    scans = [_scan(tmp_path, j, url) for j in range(SCANS)]

    reads: list[tuple[int, int]] = []
    gates: list[int] = []
    while len(reads) < READ_ROUNDS and (any(s.is_alive() for s in senders) or not reads):
        reads.append(_consistent_report(url))
        gate = _phitrace("check", "--db", url, "--fail-on", "high")
        assert gate.returncode in (0, 1), gate.stdout + gate.stderr
        gates.append(gate.returncode)
    for sender in senders:
        sender.join(300)
    outputs = [proxy.stop() for proxy in proxies]
    for process, _ in scans:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out
    seconds = time.monotonic() - started
    final = _consistent_report(url)
    final_gate = _phitrace("check", "--db", url, "--fail-on", "high")

    sent = {p.rid for plan in plans for p in plan} | {rid for _, rids in scans for rid in rids}
    recorded = Counter(
        rid_of(str(u)) for (u,) in _query(postgres_server, database, "select url from flows")
    )
    sessions = _query(
        postgres_server, database, "select id, label, errors, ended_at from sessions order by id"
    )
    by_session = dict(
        _query(postgres_server, database, "select session_id, count(*) from flows group by 1")
    )
    figures(
        f"team database: {PROXIES} proxies + {SCANS} scans wrote {sum(recorded.values())} tracker "
        f"flows of {len(sent)} sent into one PostgreSQL database in {seconds:.1f} s; "
        f"{len(reads)} report and check rounds meanwhile (flows seen: {[r[1] for r in reads]})"
    )
    assert len(sent) >= 2000
    assert all(r.error == "" and r.status in (200, 204) for t in traffic for r in t.results)
    assert set(recorded) == sent
    assert max(recorded.values()) == 1
    labels = sorted(label for _, label, _, _ in sessions)
    assert labels == sorted(
        [f"proxy-{i}" for i in range(PROXIES)] + [f"scan-{j}" for j in range(SCANS)]
    )
    assert len({sid for sid, *_ in sessions}) == PROXIES + SCANS
    assert all(errors == 0 and ended is not None for _, _, errors, ended in sessions)
    assert sorted(by_session.values()) == sorted([PER_PROXY] * PROXIES + [PER_SCAN] * SCANS)
    assert reads == sorted(reads)  # what a reader sees only ever grows
    assert final[1] == len(sent) and final >= reads[-1]
    assert final_gate.returncode == 1, final_gate.stdout  # the trackers got health data
    assert not any("Traceback" in out for out in outputs)


# The server restarted under a recording proxy -------------------------------------------


def test_a_server_restart_loses_nothing_the_writer_acknowledged_and_counts_the_rest(
    restartable_server: Server,  # noqa: F811
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    database = restartable_server.create_database()
    url = _url(restartable_server, database)
    open_database(url).close()
    proxy = _proxy(tmp_path, "restarted", url, "phitrace_store_bodies=false")
    plan = [tracker_request(n, http2=False) for n in range(1200)]
    traffic: list[Traffic] = []
    sender = threading.Thread(target=lambda: traffic.append(send(proxy.url, plan, 8)))
    sender.start()
    deadline = time.monotonic() + 120
    while _query(restartable_server, database, "select count(*) from flows")[0][0] < 200:
        assert time.monotonic() < deadline and sender.is_alive(), "no flows before the restart"
        time.sleep(0.1)
    before = _query(restartable_server, database, "select count(*) from flows")[0][0]
    pg_ctl(restartable_server, "restart")
    sender.join(300)
    output = proxy.stop()

    recorded = Counter(
        rid_of(str(u)) for (u,) in _query(restartable_server, database, "select url from flows")
    )
    ((errors, ended),) = _query(
        restartable_server, database, "select errors, ended_at from sessions"
    )
    figures(
        f"server restart: {before} flows stored before the restart, {sum(recorded.values())} of "
        f"{len(plan)} in the end, {errors} counted as not written"
    )
    assert all(r.error == "" and r.status in (200, 204) for r in traffic[0].results)
    assert max(recorded.values()) == 1
    assert set(recorded) <= {p.rid for p in plan}
    # Written and counted add up to what was sent: nothing vanished without a count.
    assert sum(recorded.values()) + errors == len(plan)
    assert sum(recorded.values()) > before
    assert ended is not None
    assert "Traceback" not in output
