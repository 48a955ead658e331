"""End to end: a neutral Meta click on a logged-in condition page, real browser and proxy."""

from __future__ import annotations

import http.server
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

LOGIN = b"""<!doctype html><html><head><title>Sign in | Clinic portal</title></head><body>
<form method="post" action="/login"><input name="user" value="pat">
<input name="password" type="password" value="secret"><button id="signin">Sign in</button></form>
</body></html>"""

CONTENT = b"""<!doctype html><html><head><title>Managing type 2 diabetes | Clinic portal</title>
</head><body><h1>Your care plan</h1><p id="status">idle</p><button id="next">Continue</button>
<script>
document.getElementById("next").addEventListener("click", function () {
  var status = document.getElementById("status");
  var img = new Image();
  img.onload = function () { status.textContent = "sent"; };
  img.onerror = function () { status.textContent = "failed"; };
  img.src = "https://www.facebook.com/tr/?id=1234567890&ev=SubscribedButtonClick" +
    "&cd[buttonText]=Continue&cd[formFeatures]=%5B%5D&fbp=fb.1.1700000000000.42";
});
</script></body></html>"""


class Portal(http.server.BaseHTTPRequestHandler):
    """A sign-in form, a POST that sets a session cookie, and an opaque content page."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, LOGIN if self.path.startswith("/login") else CONTENT)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        cookie = "pt=7c1e9a; Path=/; HttpOnly; SameSite=Lax"
        self._send(303, Set_Cookie=cookie, Location="/content?id=8812")


@pytest.fixture
def portal() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def journey(portal: str, start_proxy: Any, browser_for: Any, *, log_in: bool) -> Path:
    """Open the content page (after signing in, or not) and click the button; the database."""
    proxy = start_proxy("phitrace_sinkhole=true", "phitrace_label=portal")
    browser = browser_for(proxy.url)
    page = browser.new_page()
    if log_in:
        page.goto(portal + "/login")
        with page.expect_navigation():
            page.click("#signin")
    else:
        page.goto(portal + "/content?id=8812")
    assert page.url == portal + "/content?id=8812"
    page.click("#next")
    page.wait_for_function("document.getElementById('status').textContent !== 'idle'")
    assert page.text_content("#status") == "sent"
    browser.close()
    output = proxy.stop()
    assert "Traceback" not in output, output
    return Path(proxy.db)


def meta_flow(db: Path) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        (flow,) = conn.execute("select * from flows where vendor = 'meta-pixel'")
        findings = list(conn.execute("select * from findings where flow_id = ?", (flow["id"],)))
    return flow, findings


def test_a_neutral_click_on_a_logged_in_condition_page_is_a_high_health_finding(
    portal: str, start_proxy: Any, browser_for: Any
) -> None:
    flow, findings = meta_flow(journey(portal, start_proxy, browser_for, log_in=True))
    page_health = [f for f in findings if f["rule"] == "health_page"]
    assert [(f["kind"], f["category"], f["matched"]) for f in page_health] == [
        ("health", "condition", "diabetes")
    ]
    assert f"seen in the document {portal}/content?id=8812" in page_health[0]["reason"]
    assert flow["page_url"] == f"{portal}/content?id=8812"
    assert flow["authenticated"] == "yes"
    assert flow["authenticated_reason"] == "cookie 'pt' set by the login response to POST /login"
    assert flow["severity"] == "high"
    assert "HHS OCR" in flow["severity_reason"]


def test_the_same_journey_logged_out_is_not_authenticated(
    portal: str, start_proxy: Any, browser_for: Any
) -> None:
    flow, findings = meta_flow(journey(portal, start_proxy, browser_for, log_in=False))
    assert (flow["authenticated"], flow["authenticated_reason"]) == ("no", None)
    assert any(f["rule"] == "health_page" for f in findings)
    assert "user-authenticated" not in flow["severity_reason"]
