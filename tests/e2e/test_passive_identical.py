"""Passive mode does not change a single byte of what reaches the server."""

from __future__ import annotations

import gzip
import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e
ADDONS = Path(__file__).resolve().parent / "addons"

REQUESTS = [
    (
        "tracker-get",
        "GET",
        "https://www.facebook.com/tr/?id=1&ev=PageView&dl=https%3A%2F%2F"
        "www.example.org%2Fconditions%2Fdiabetes&fbp=fb.1.2.3",
        {},
        b"",
    ),
    (
        "tracker-form",
        "POST",
        "https://www.facebook.com/tr/",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"id=1&ev=Search&cd[search_string]=diabetes&fbp=fb.1.2.3",
    ),
    (
        "tracker-gzip",
        "POST",
        "https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2",
        {"Content-Type": "text/plain", "Content-Encoding": "gzip"},
        gzip.compress(b"en=page_view\r\nen=view_search_results&ep.search_term=hiv%20test"),
    ),
    ("site-get", "GET", "https://www.example.org/conditions/diabetes?q=insulin", {}, b""),
    (
        "site-json",
        "POST",
        "https://www.example.org/api/messages",
        {"Content-Type": "application/json"},
        b'{"to":"dr-smith","text":"my metformin dose"}',
    ),
]


def send_all(proxy_url: str, suffix: str) -> None:
    for http2 in (False, True):
        with httpx.Client(proxy=proxy_url, verify=False, http2=http2, timeout=20) as client:
            for name, method, url, headers, body in REQUESTS:
                test_id = f"{name}-{'h2' if http2 else 'h1'}"
                response = client.request(
                    method, url, content=body, headers={**headers, "X-Test-Id": test_id}
                )
                assert response.status_code == 200, (test_id, suffix)


def record(start_proxy, upstream, tmp_path: Path, with_phitrace: bool) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    proxy = start_proxy(
        "ssl_insecure=true",
        f"upstream_redirect_port={upstream.port}",
        args=("-s", str(ADDONS / "upstream_redirect.py")),
        phitrace=with_phitrace,
        db=tmp_path / f"{with_phitrace}.db",
    )
    send_all(proxy.url, str(with_phitrace))
    proxy.stop()
    return upstream.by_id()


def test_passive_mode_forwards_byte_identical_requests(
    start_proxy, recorder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    plain = record(start_proxy, recorder(), tmp_path, with_phitrace=False)
    traced = record(start_proxy, recorder(), tmp_path, with_phitrace=True)
    assert len(plain) == 2 * len(REQUESTS)
    assert traced.keys() == plain.keys()
    for test_id in plain:
        assert traced[test_id] == plain[test_id], test_id
    # phitrace really analysed the tracker requests while changing nothing.
    with closing(sqlite3.connect(tmp_path / "True.db")) as conn:
        vendors = sorted(v for (v,) in conn.execute("select vendor from flows"))
        health = conn.execute("select count(*) from findings where kind = 'health'").fetchone()
    assert vendors == ["google-analytics"] * 2 + ["meta-pixel"] * 4
    assert health[0] >= 6
