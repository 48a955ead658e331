"""`phitrace scan` on real HAR captures from health websites."""

from __future__ import annotations

import gzip
import json
import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import CliRunner

from phitrace.cli.main import main

HAR = "pixel-inspector-home-health-tests-2023/hars/oraquick.har.gz"


def _tracker_urls(har: Path) -> list[str]:
    """Meta /tr, GA collect and bat.bing.com hits, by the corpus's own host/path rules."""
    with gzip.open(har, "rt") as handle:
        entries = json.load(handle)["log"]["entries"]
    urls = [e["request"]["url"] for e in entries]
    return [
        u for u in urls if "facebook.com/tr" in u or "/g/collect" in u or "bat.bing.com/action" in u
    ]


def test_scanning_a_real_capture_records_its_tracker_flows(corpus: Path, tmp_path: Path) -> None:
    har = corpus / HAR
    db = tmp_path / "scan.db"
    result = CliRunner().invoke(main, ["scan", str(har), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        recorded = {u for (u,) in conn.execute("select url from flows where vendor is not null")}
        hiv = conn.execute(
            "select count(*) from findings where matched in ('HIV', 'HIV test')"
        ).fetchone()[0]
    expected = _tracker_urls(har)
    assert expected and set(expected) <= recorded
    # oraquick.com is an at-home HIV test site: its pages' URLs reach the trackers.
    assert hiv > 0
