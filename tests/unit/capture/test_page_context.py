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


def findings_of(db: Path, flow_id: int) -> list[sqlite3.Row]:
    """The flow's health findings (Meta's ``fbp`` browser id is an identifier finding)."""
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        query = "select * from findings where flow_id = ? and kind = 'health' order by id"
        return list(conn.execute(query, (flow_id,)))


CONDITION = (
    "<html><head><title>Living with type 2 diabetes | Clinic portal</title></head>"
    "<body><h1>Your care plan</h1></body></html>"
)


def test_a_neutral_event_from_a_health_page_is_a_health_page_finding(tmp_path: Path) -> None:
    db = scan(tmp_path, entry(f"{PORTAL}/content?id=8812", html=CONDITION), entry(CLICK))
    (flow,) = tracker_flows(db)
    (finding,) = findings_of(db, flow["id"])
    assert (finding["kind"], finding["category"], finding["rule"]) == (
        "health",
        "condition",
        "health_page",
    )
    assert finding["matched"] == "diabetes" and finding["path"] == "page.title"
    assert f"seen in the document {PORTAL}/content?id=8812" in finding["reason"]
    assert flow["severity"] == "high"  # health data to an advertising vendor


CRISIS_CONTACT = (
    "<html><head><title>Contact Us | Riverside Crisis Center</title>"
    '<meta name="description" content="Reach our team by phone, text or the form below.">'
    "</head><body><h1>Contact us</h1><form><input name='name'><input name='phone'>"
    "<input name='email'><textarea name='message'></textarea><button>Send</button></form>"
    "</body></html>"
)
FORM_CLICK = (
    "https://www.facebook.com/tr/?id=4455667788&ev=SubscribedButtonClick"
    "&dl=https%3A%2F%2Fwww.riverside-crisis.example.org%2Fcontact-us%2F"
    "&cd[buttonFeatures]=%7B%22classList%22%3A%22btn%22%2C%22innerText%22%3A%22Send%22%7D"
    "&cd[buttonText]=Send"
    "&cd[formFeatures]=%5B%7B%22name%22%3A%22name%22%7D%2C%7B%22name%22%3A%22phone%22%7D"
    "%2C%7B%22name%22%3A%22email%22%7D%2C%7B%22name%22%3A%22message%22%7D%5D"
    "&fbp=fb.1.1700000000000.42"
)


def test_the_crisis_line_contact_form_click_is_flagged_from_the_page(tmp_path: Path) -> None:
    page = entry("https://www.riverside-crisis.example.org/contact-us/", html=CRISIS_CONTACT)
    db = scan(tmp_path, page, entry(FORM_CLICK))
    (flow,) = tracker_flows(db)
    rules = {(f["rule"], f["category"], f["matched"]) for f in findings_of(db, flow["id"])}
    assert ("health_page", "provider", "crisis line") in rules
    assert flow["severity"] == "high"


def test_what_one_trackers_payload_says_about_the_page_flags_the_next_event(
    tmp_path: Path,
) -> None:
    microdata = (
        "https://www.facebook.com/tr/?id=1&ev=Microdata"
        "&dl=https%3A%2F%2Fportal.clinic.example.org%2Fcontent%3Fid%3D8812"
        "&cd[Meta]=%7B%22title%22%3A%22Living%20with%20type%202%20diabetes%22%7D&fbp=fb.1.1.2"
    )
    db = scan(tmp_path, entry(microdata), entry(CLICK))
    first, click = tracker_flows(db)
    (finding,) = findings_of(db, click["id"])
    assert finding["rule"] == "health_page" and finding["matched"] == "diabetes"
    assert f"the meta-pixel flow with request_sha256 {first['request_sha256']}" in finding["reason"]
    assert all(f["rule"] != "health_page" for f in findings_of(db, first["id"]))


def test_a_page_without_health_content_adds_nothing(tmp_path: Path) -> None:
    db = scan(tmp_path, entry(f"{PORTAL}/content?id=8812", html=CONTENT), entry(CLICK))
    (flow,) = tracker_flows(db)
    assert findings_of(db, flow["id"]) == []
    assert flow["severity"] == "low"  # Meta's browser id only


def test_a_cors_preflight_from_a_health_page_carries_no_page_finding(tmp_path: Path) -> None:
    preflight = entry(CLICK, method="OPTIONS")
    preflight["request"]["headers"].append(
        {"name": "Access-Control-Request-Method", "value": "POST"}
    )
    db = scan(tmp_path, entry(f"{PORTAL}/content?id=8812", html=CONDITION), preflight, entry(CLICK))
    asked, sent = tracker_flows(db)
    assert (asked["method"], sent["method"]) == ("OPTIONS", "GET")
    assert [f["rule"] for f in findings_of(db, asked["id"])] == []
    assert [f["rule"] for f in findings_of(db, sent["id"])] == ["health_page"]
