"""HAR scans read the capture's documents: whether a page was logged in, and what it is about."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from phitrace.cli.main import main

PORTAL = "https://portal.clinic.example.org"
CLICK = (
    "https://www.facebook.com/tr/?id=1234567890&ev=SubscribedButtonClick"
    "&dl=https%3A%2F%2Fportal.clinic.example.org%2Fcontent%3Fid%3D8812"
    "&cd[buttonText]=Continue&cd[formFeatures]=%5B%5D&fbp=fb.1.1.2"
)


def entry(
    url: str,
    *,
    method: str = "GET",
    cookies: str = "",
    html: str | None = None,
    set_cookie: str = "",
    body: str = "",
) -> dict[str, Any]:
    """One HAR entry; a document when ``html`` is given."""
    headers = [{"name": "Cookie", "value": cookies}] if cookies else []
    request: dict[str, Any] = {"method": method, "url": url, "headers": headers}
    if body:
        request["postData"] = {"mimeType": "application/x-www-form-urlencoded", "text": body}
    response_headers = [{"name": "Set-Cookie", "value": set_cookie}] if set_cookie else []
    content = (
        {"mimeType": "text/html", "text": html} if html is not None else {"mimeType": "image/gif"}
    )
    return {
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "pageref": "page_1",
        "request": request,
        "response": {"status": 200, "headers": response_headers, "content": content},
    }


def scan(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    capture, db = tmp_path / "capture.har", tmp_path / "p.db"
    capture.write_text(json.dumps({"log": {"pages": [], "entries": list(entries)}}))
    result = CliRunner().invoke(main, ["scan", str(capture), "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db


def tracker_flows(db: Path) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        return list(conn.execute("select * from flows where vendor = 'meta-pixel' order by id"))


CONTENT = "<html><head><title>Your visit</title></head><body><h1>Notes</h1></body></html>"


def test_a_page_loaded_with_the_login_responses_cookie_is_authenticated_and_high(
    tmp_path: Path,
) -> None:
    db = scan(
        tmp_path,
        entry(
            f"{PORTAL}/login", method="POST", body="user=a&password=b", set_cookie="pt=9f2; Path=/"
        ),
        entry(f"{PORTAL}/content?id=8812", cookies="pt=9f2", html=CONTENT),
        entry(CLICK),
    )
    (flow,) = tracker_flows(db)
    assert flow["authenticated"] == "yes"
    assert flow["authenticated_reason"] == "cookie 'pt' set by the login response to POST /login"
    assert flow["severity"] == "high"
    assert "user-authenticated webpages" in flow["severity_reason"]
    assert "HHS OCR" in flow["severity_reason"]


def test_the_same_journey_logged_out_is_not_authenticated(tmp_path: Path) -> None:
    db = scan(tmp_path, entry(f"{PORTAL}/content?id=8812", html=CONTENT), entry(CLICK))
    (flow,) = tracker_flows(db)
    assert (flow["authenticated"], flow["authenticated_reason"]) == ("no", None)
    assert "user-authenticated" not in (flow["severity_reason"] or "")


def test_a_session_named_cookie_in_the_hars_cookie_list_counts(tmp_path: Path) -> None:
    document = entry(f"{PORTAL}/content?id=8812", html=CONTENT)
    document["request"]["cookies"] = [{"name": "JSESSIONID", "value": "A1B2"}]
    db = scan(tmp_path, document, entry(CLICK))
    (flow,) = tracker_flows(db)
    assert flow["authenticated"] == "yes"
    assert flow["authenticated_reason"] == "session cookie 'JSESSIONID' on the document request"


def test_a_tracker_page_never_seen_as_a_document_is_unknown(tmp_path: Path) -> None:
    (flow,) = tracker_flows(scan(tmp_path, entry(CLICK)))
    assert (flow["authenticated"], flow["authenticated_reason"]) == ("unknown", None)
