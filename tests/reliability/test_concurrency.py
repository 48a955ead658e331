"""Readers while the proxy writes: phitrace report, a plain sqlite3 reader and Datasette."""

from __future__ import annotations

import asyncio
import importlib.util
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support.database import rows, wait_for_session
from tests.support.loopback import Traffic, send, tracker_request

pytestmark = pytest.mark.e2e


def read_only_count(db: Path) -> int:
    """Count flows the way an outside reader does: read-only, no busy timeout of ours."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("select count(*) from flows").fetchone()[0])
    finally:
        conn.close()


def datasette_count(db: Path) -> int:
    from datasette.app import Datasette

    async def query() -> int:
        app = Datasette(files=[str(db)])
        response = await app.client.get(
            f"/{db.stem}.json?sql=select+count(*)+as+n+from+flows&_shape=array"
        )
        assert response.status_code == 200, response.text
        return int(response.json()[0]["n"])

    return asyncio.run(query())


def test_report_sqlite_and_datasette_read_while_the_proxy_writes(
    start_proxy,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    if importlib.util.find_spec("datasette") is None:  # run as its own process below
        pytest.skip("datasette is not installed")
    proxy = start_proxy("phitrace_sinkhole=true", "flow_detail=0")
    db = proxy.db
    wait_for_session(db)  # as a tester does: readers start once the session is logged
    planned = [tracker_request(n, http2=n % 2 == 0) for n in range(1000)]
    done: list[Traffic] = []
    sender = threading.Thread(target=lambda: done.append(send(proxy.url, planned, 50)))
    sender.start()

    counts: list[int] = []
    reports: list[tuple[int, int, int, str]] = []  # (flows before, after, exit code, output)
    while sender.is_alive() or not reports:
        counts.append(read_only_count(db))
        counts.append(datasette_count(db))
        output = tmp_path / f"report-{len(reports)}.html"
        before = read_only_count(db)
        result = subprocess.run(
            [sys.executable, "-m", "phitrace", "report", "--db", str(db), "-o", str(output)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        reports.append((before, read_only_count(db), result.returncode, result.stderr))
    sender.join()
    proxy.stop()

    final = rows(db, "select count(*) from flows")[0][0]
    busy = [r for r in reports if r[1] > r[0]]
    figures(
        f"concurrency: {len(reports)} reports ({len(busy)} while flows were being written), "
        f"{len(counts)} sqlite3/Datasette reads, {final} flows at the end"
    )
    assert [code for _, _, code, _ in reports] == [0] * len(reports), reports[-1][3]
    assert busy, "no report overlapped with writing"
    assert counts == sorted(counts) and counts[-1] <= final
    assert final == len(planned)
