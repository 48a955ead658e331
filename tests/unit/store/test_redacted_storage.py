"""``--storage redact``: a captured value never survives, not even as a key in a path."""

from __future__ import annotations

from pathlib import Path

from phitrace.model import Analysis, Finding, Request, evidence_text
from phitrace.store.database import open_database
from phitrace.store.rows import Record, digest
from phitrace.store.sessions import start_session
from phitrace.store.writer import write_record

EMAIL = "jane.canary@example.org"
CONDITION = "diabetes"


def keyed_by_value() -> Analysis:
    """A request whose payload uses the patient's e-mail address as a JSON key."""
    request = Request(
        "POST", "https://www.facebook.com/tr/?id=1", (), b'{"jane.canary@example.org": "diabetes"}'
    )
    email = Finding(
        "identifier",
        "email",
        f"body.{EMAIL}",
        EMAIL,
        "email",
        "identifier:email",
        "low",
        f"e-mail address {EMAIL} sent as a key",
        ("json",),
    )
    condition = Finding(
        "health",
        "condition",
        f"body.{EMAIL}",
        CONDITION,
        CONDITION,
        "health:condition",
        "high",
        f"condition next to {EMAIL}",
        ("json",),
    )
    return Analysis(
        request,
        "meta-pixel",
        findings=(email, condition),
        severity="high",
        severity_reason=f"condition linked to {EMAIL}",
        truncated=f"body.{EMAIL}: more than 100 fields",
        authenticated="yes",
        authenticated_reason=f"tracker field body.{EMAIL} says the visitor is logged in",
    )


def stored(tmp_path: Path, analysis: Analysis) -> tuple[dict[str, object], list[dict[str, object]]]:
    db = open_database(tmp_path / "p.db")
    session = start_session(db, source="har")
    with db.atomic():
        flow_id = write_record(db, Record(session, analysis), True, "redact")
    flow = db.table("flows").get(flow_id)
    findings = list(db.query("select * from findings where flow_id = ? order by id", [flow_id]))
    db.close()
    return flow, findings


def test_a_value_used_as_a_key_is_replaced_by_its_digest_everywhere(tmp_path: Path) -> None:
    flow, findings = stored(tmp_path, keyed_by_value())
    marker = digest(EMAIL)
    assert marker is not None and marker.startswith("sha256:")
    texts = [str(v) for row in (flow, *findings) for v in row.values() if v is not None]
    assert not [text for text in texts if EMAIL in text]
    kept = [key for row in findings for key, v in row.items() if v and CONDITION in str(v)]
    assert kept == ["matched"]  # the matched vocabulary term is kept by design
    for row in findings:
        assert row["path"] == f"body.{marker}"
        assert row["field"] == evidence_text(f"body.{marker}", ("json",))
    assert findings[0]["reason"] == f"e-mail address {marker} sent as a key"
    assert findings[1]["reason"] == f"condition next to {marker}"
    assert flow["severity_reason"] == f"condition linked to {marker}"
    assert flow["truncated"] == f"body.{marker}: more than 100 fields"
    assert (
        flow["authenticated_reason"] == f"tracker field body.{marker} says the visitor is logged in"
    )
    assert [row["value"] for row in findings] == [marker, digest(CONDITION)]


def test_the_whole_file_holds_no_captured_value(tmp_path: Path) -> None:
    stored(tmp_path, keyed_by_value())
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("p.db"))
    assert EMAIL.encode() not in raw


def test_short_values_do_not_mangle_ordinary_key_names(tmp_path: Path) -> None:
    request = Request("GET", "https://www.facebook.com/tr/?id=1&cd[age]=ag", ())
    short = Finding("identifier", "age", "query.cd[age]", "ag", "ag", "identifier:age", "low")
    flow, findings = stored(tmp_path, Analysis(request, "meta-pixel", findings=(short,)))
    assert findings[0]["path"] == "query.cd[age]"
    assert findings[0]["value"] == digest("ag")


def test_full_storage_keeps_paths_as_captured(tmp_path: Path) -> None:
    with open_database(tmp_path / "full.db") as db:
        flow_id = write_record(db, Record(start_session(db, source="har"), keyed_by_value()), True)
        paths = [
            row["path"]
            for row in db.query("select path from findings where flow_id = ?", [flow_id])
        ]
        assert paths == [f"body.{EMAIL}", f"body.{EMAIL}"]


def test_a_header_name_with_undecodable_bytes_is_stored_in_every_column(tmp_path: Path) -> None:
    from phitrace.model import Analysis, Finding, Request
    from phitrace.store.database import open_database
    from phitrace.store.rows import Record
    from phitrace.store.sessions import start_session
    from phitrace.store.writer import write_record

    name = "t\udcb9\udc96;M"
    request = Request("GET", "https://t.example/c", ((name, "Metformin"),))
    finding = Finding("health", "medication", f"header.{name}", "Metformin", "metformin", "r")
    db = open_database(tmp_path / "phitrace.db")
    session = start_session(db, source="har", label="x")
    write_record(db, Record(session, Analysis(request, "t", findings=(finding,))), True)
    ((path, channel),) = db.execute("select path, channel from findings").fetchall()
    assert path == "header.t\\udcb9\\udc96;M"
    assert channel.startswith("header.") and "\\udcb9" in channel
    db.close()
