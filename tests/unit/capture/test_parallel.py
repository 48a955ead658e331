"""``phitrace scan --jobs N``: the same sessions, flows and findings as one job, in file order."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from phitrace.capture import parallel
from tests.support.har import write_har

TRACKERS = (
    "https://www.facebook.com/tr/?id=1&ev=PageView&fbp=fb.1.2.{n}"
    "&dl=https%3A%2F%2Fclinic.example%2Fconditions%2Fdiabetes%3Fmember%3D{n}",
    "https://www.google-analytics.com/collect?v=1&tid=UA-1&cid={n}.2&t=event&ec=search"
    "&el=hiv%20test&dl=https%3A%2F%2Fclinic.example%2Fsearch%3Fq%3Dhiv%2Btest",
    "https://bat.bing.com/action/0?ti=1&evt=pageLoad&mid={n}"
    "&p=https%3A%2F%2Fclinic.example%2Fconditions%2Fcancer",
    "https://cdn.example.net/app.js?v={n}",
)

SESSIONS = "select id, label, input, source, status, errors from sessions order by id"
FLOWS = "select * from flows where session_id = ? order by id"
FINDINGS = "select * from findings where session_id = ? order by id"
PARTIES = "select * from third_parties where session_id = ? order by id"
REQUESTS = "select r.* from requests r join flows f on f.id = r.flow_id where session_id = ?"


def captures(tmp_path: Path, sizes: tuple[int, ...]) -> list[Path]:
    """HAR files of ``sizes`` tracker requests each, different in every file."""
    paths = []
    for index, size in enumerate(sizes):
        urls = [TRACKERS[n % len(TRACKERS)].format(n=index * 1000 + n) for n in range(size)]
        paths.append(write_har(tmp_path / f"capture-{index}.har", urls))
    return paths


def scan(paths: list[Path], db: Path, jobs: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "phitrace", "scan", *map(str, paths), "--db", str(db)]
    return subprocess.run([*command, "--jobs", str(jobs)], capture_output=True, text=True)


def without_ids(rows: list[sqlite3.Row], *ids: str) -> list[tuple[object, ...]]:
    """Rows without their row ids (flow ids of parallel sessions interleave)."""
    return [tuple(row[key] for key in row.keys() if key not in ids) for row in rows]


def recorded(db: Path) -> list[dict[str, object]]:
    """Every session of ``db`` in id order, with its flows, findings and third parties."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        found = []
        for session in conn.execute(SESSIONS).fetchall():
            sid = [session["id"]]
            found.append(
                {
                    "session": tuple(session),
                    "flows": without_ids(conn.execute(FLOWS, sid).fetchall(), "id"),
                    "findings": without_ids(
                        conn.execute(FINDINGS, sid).fetchall(), "id", "flow_id"
                    ),
                    "parties": without_ids(conn.execute(PARTIES, sid).fetchall(), "id"),
                    "requests": without_ids(conn.execute(REQUESTS, sid).fetchall(), "flow_id"),
                }
            )
        return found
    finally:
        conn.close()


@pytest.mark.skipif(not parallel.available(), reason="forked workers are not available here")
def test_two_jobs_record_exactly_what_one_job_records(tmp_path: Path) -> None:
    # The first file is the largest, so with two jobs the second one finishes first.
    paths = captures(tmp_path, (120, 8, 30, 1))
    one, two = scan(paths, tmp_path / "one.db", 1), scan(paths, tmp_path / "two.db", 2)
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    assert one.stdout.replace("one.db", "") == two.stdout.replace("two.db", "")
    assert [line.split(":")[1] for line in two.stdout.splitlines()] == [
        " session 1",
        " session 2",
        " session 3",
        " session 4",
    ]
    sessions = recorded(tmp_path / "one.db")
    assert [len(s["findings"]) > 0 for s in sessions] == [True] * 4
    assert recorded(tmp_path / "two.db") == sessions


@pytest.mark.skipif(not parallel.available(), reason="forked workers are not available here")
def test_a_broken_file_is_reported_and_the_others_keep_their_order(tmp_path: Path) -> None:
    good = captures(tmp_path, (20, 5))
    broken = tmp_path / "broken.har"
    broken.write_text("{not json")
    result = scan([good[0], broken, good[1]], tmp_path / "p.db", 2)
    assert result.returncode == 1
    assert "broken.har" in result.stderr
    sessions = recorded(tmp_path / "p.db")
    assert [s["session"][1] for s in sessions] == ["capture-0.har", "capture-1.har"]
    assert [s["session"][0] for s in sessions] == [1, 2]


def test_forking_is_refused_while_other_threads_run() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not parallel.available()
    finally:
        stop.set()
        thread.join()
