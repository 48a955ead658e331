"""Evidence bundles: HAR of flagged flows, findings JSON, a manifest that verifies."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.capture.har import read_har
from phitrace.cli.main import main
from phitrace.report.evidence import har_document, verify_bundle, write_bundle
from phitrace.report.html import raw_text
from phitrace.store.database import open_database
from phitrace.store.reader import Findings, load_findings
from tests.support.seeded_db import clinic, finding, new_session, record_flow

HAR_ENTRY_FIELDS = {"startedDateTime", "time", "request", "response", "cache", "timings"}
HAR_REQUEST_FIELDS = {
    "method",
    "url",
    "httpVersion",
    "cookies",
    "headers",
    "queryString",
    "headersSize",
    "bodySize",
}
HAR_RESPONSE_FIELDS = {
    "status",
    "statusText",
    "httpVersion",
    "cookies",
    "headers",
    "content",
    "redirectURL",
    "headersSize",
    "bodySize",
}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    db = open_database(clinic(tmp_path_factory.mktemp("clinic") / "clinic.db"))
    loaded = load_findings(db, raw=True)
    db.close()
    return loaded


@pytest.fixture
def bundle(findings: Findings, tmp_path: Path) -> Path:
    path = tmp_path / "evidence.zip"
    write_bundle(findings, path)
    return path


def rewrite(bundle: Path, changes: dict[str, bytes]) -> None:
    """Replace or add members of a zip, as someone tampering with it would."""
    with zipfile.ZipFile(bundle) as old:
        members = {name: old.read(name) for name in old.namelist()}
    members.update(changes)
    with zipfile.ZipFile(bundle, "w") as new:
        for name, data in members.items():
            new.writestr(name, data)


def test_har_has_the_required_har_1_2_structure(findings: Findings) -> None:
    log = har_document(findings)["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "phitrace"
    assert len(log["entries"]) == 4  # flows with findings; the quiet flow is left out
    page_ids = {page["id"] for page in log["pages"]}
    for entry in log["entries"]:
        assert HAR_ENTRY_FIELDS <= entry.keys()
        assert HAR_REQUEST_FIELDS <= entry["request"].keys()
        assert HAR_RESPONSE_FIELDS <= entry["response"].keys()
        assert {"send", "wait", "receive"} <= entry["timings"].keys()
        assert entry["pageref"] in page_ids
        assert all(
            key.startswith("_") for key in entry if key not in HAR_ENTRY_FIELDS | {"pageref"}
        )


def test_har_scans_back_to_the_same_requests(findings: Findings, tmp_path: Path) -> None:
    har = tmp_path / "flows.har"
    har.write_text(json.dumps(har_document(findings)))
    rescanned = {request.sha256(): request.page_url for request, _ in read_har(har)}
    stored = {
        leak.request_sha256: leak.page_url
        for leak in findings.leaks
        if leak.flow_id in findings.raw
    }
    assert len(stored) == 3
    assert stored.items() <= rescanned.items()


def test_binary_bodies_travel_as_base64(tmp_path: Path) -> None:
    db = open_database(tmp_path / "b.db")
    session = new_session(db, "binary")
    body = bytes(range(256))
    record_flow(
        db,
        session,
        url="https://t.example/collect",
        page="https://clinic.example/",
        vendor="meta-pixel",
        method="POST",
        body=body,
        findings=[finding("identifier", "user_id", "body", "x", "user_id", "low")],
    )
    loaded = load_findings(db, raw=True)
    db.close()
    post = har_document(loaded)["log"]["entries"][0]["request"]["postData"]
    assert post["encoding"] == "base64"
    har = tmp_path / "b.har"
    har.write_text(json.dumps(har_document(loaded)))
    ((request, _),) = list(read_har(har))
    assert request.body == body and request.sha256() == loaded.leaks[0].request_sha256


def test_every_cookie_reaches_the_har_even_after_a_json_valued_one(tmp_path: Path) -> None:
    db = open_database(tmp_path / "c.db")
    session = new_session(db, "cookies")
    traits = '{"email":"pat@example.org","plan":"basic"}'
    cookie = f"_ga=GA1.2.3.4; ajs_user_traits={traits}; _fbp=fb.1.2.3; sid=abc"
    record_flow(
        db,
        session,
        url="https://t.example/collect",
        page="https://clinic.example/",
        vendor="meta-pixel",
        headers=(("User-Agent", "phitrace-test"), ("Cookie", cookie)),
        findings=[finding("identifier", "user_id", "cookie", "x", "user_id", "low")],
    )
    loaded = load_findings(db, raw=True)
    db.close()
    cookies = har_document(loaded)["log"]["entries"][0]["request"]["cookies"]
    assert cookies == [
        {"name": "_ga", "value": "GA1.2.3.4"},
        {"name": "ajs_user_traits", "value": traits},
        {"name": "_fbp", "value": "fb.1.2.3"},
        {"name": "sid", "value": "abc"},
    ]


def test_bundle_is_private_and_its_manifest_verifies(bundle: Path, findings: Findings) -> None:
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    with zipfile.ZipFile(bundle) as zipped:
        names = zipped.namelist()
        modes = {stat.S_IMODE(info.external_attr >> 16) for info in zipped.infolist()}
        manifest = json.loads(zipped.read("manifest.json"))
        for name, listed in manifest["files"].items():
            assert hashlib.sha256(zipped.read(name)).hexdigest() == listed["sha256"]
    assert names == ["flows.har", "findings.json", "manifest.json", "SHA256SUMS"]
    assert modes == {0o600}
    assert manifest["phitrace_version"] and manifest["mitmproxy_version"][0].isdigit()
    assert manifest["signatures"]["session_digests"] == ["0123456789abcdef"]
    assert manifest["sessions"][0]["consent"] == "rejected"
    assert manifest["counts"] == {"findings": 8, "flows": 4, "flows_with_stored_request": 3}
    result = verify_bundle(bundle)
    assert result.ok and result.files == 2


def test_sha256sum_checks_the_unpacked_bundle(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "unpacked"
    with zipfile.ZipFile(bundle) as zipped:
        zipped.extractall(out)
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == 3


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"findings.json": b"{}"}, "findings.json: content differs from the manifest"),
        ({"notes.txt": b"added later"}, "notes.txt: in the bundle but not in the manifest"),
        ({"SHA256SUMS": b"0" * 64 + b"  flows.har\n"}, "SHA256SUMS: 'flows.har' does not match"),
        ({"manifest.json": b"[]"}, "manifest.json: not a phitrace evidence manifest"),
    ],
)
def test_tampering_is_detected(bundle: Path, changes: dict[str, bytes], problem: str) -> None:
    rewrite(bundle, changes)
    result = verify_bundle(bundle)
    assert not result.ok
    assert problem in result.problems


def test_verify_compares_the_manifest_with_a_recorded_digest(bundle: Path) -> None:
    good = verify_bundle(bundle).manifest_sha256
    assert verify_bundle(bundle, good.upper()).ok
    assert not verify_bundle(bundle, "0" * 64).ok


def test_not_a_zip_is_one_problem(tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    fake.write_text("hello")
    (problem,) = verify_bundle(fake).problems
    assert problem.startswith(f"cannot read {fake} as an evidence bundle")


def test_export_commands(tmp_path: Path) -> None:
    db = clinic(tmp_path / "clinic.db")
    out = tmp_path / "bundle.zip"
    runner = CliRunner()
    made = runner.invoke(main, ["export", "evidence", "--db", str(db), "-o", str(out)])
    assert made.exit_code == 0, made.output
    digest = made.output.split("manifest sha256: ")[1].strip()
    ok = runner.invoke(main, ["export", "verify", str(out), "--manifest-sha256", digest])
    assert ok.exit_code == 0 and "OK, 2 files match" in ok.output
    rewrite(out, {"flows.har": b"{}"})
    bad = runner.invoke(main, ["export", "verify", str(out)])
    assert bad.exit_code == 1
    assert "flows.har: content differs from the manifest" in bad.output


GZIP_JSON = b'{"event": "Search", "search_string": "diabetes", "email": "jane@example.org"}'


def test_a_gzip_body_is_exported_as_its_wire_bytes_with_the_decoded_text_labelled(
    tmp_path: Path,
) -> None:
    wire = gzip.compress(GZIP_JSON)
    db = open_database(tmp_path / "g.db")
    session = new_session(db, "gzip")
    flow_id = record_flow(
        db,
        session,
        url="https://www.facebook.com/tr/",
        page="https://clinic.example/search",
        vendor="meta-pixel",
        method="POST",
        headers=(("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
        body=wire,
        findings=[finding("health", "condition", "body.search_string", "diabetes", "d", "high")],
    )
    (stored_sha,) = db.execute(
        "select request_body_sha256 from flows where id = ?", [flow_id]
    ).fetchone()
    loaded = load_findings(db, raw=True)
    db.close()
    out = tmp_path / "g.zip"
    write_bundle(loaded, out)
    with zipfile.ZipFile(out) as bundle:
        (entry,) = json.loads(bundle.read("flows.har"))["log"]["entries"]
    post = entry["request"]["postData"]
    assert post["encoding"] == "base64" and base64.b64decode(post["text"]) == wire
    assert "wire bytes" in post["comment"]
    assert entry["request"]["bodySize"] == len(wire)
    extra = entry["_phitrace"]
    assert extra["wire_body"]["sha256"] == hashlib.sha256(wire).hexdigest() == stored_sha
    decoded = extra["decoded_body"]
    assert decoded["text"] == GZIP_JSON.decode() and "encoding" not in decoded
    assert decoded["trail"] == ["gzip"] and decoded["content_encoding"] == "gzip"
    assert decoded["complete"] is True and decoded["bytes"] == len(GZIP_JSON)
    assert decoded["sha256"] == hashlib.sha256(GZIP_JSON).hexdigest() != stored_sha
    assert decoded["label"].startswith("decoded") and "not what was sent" in decoded["label"]
    # The HTML report's raw request view shows both, each labelled.
    shown = raw_text("POST", entry["request"]["url"], loaded.raw[flow_id])
    wire_at, decoded_at = shown.index("[wire bytes"), shown.index("[decoded by phitrace")
    assert wire_at < shown.index(base64.b64encode(wire).decode()) < decoded_at
    assert shown.index(GZIP_JSON.decode()) > decoded_at
    assert f"{len(wire)} bytes]" in shown and "(gzip)" in shown


def test_a_body_without_a_coding_has_no_decoded_copy(findings: Findings) -> None:
    for entry in har_document(findings)["log"]["entries"]:
        assert "decoded_body" not in entry["_phitrace"]
        if "postData" in entry["request"]:
            assert entry["_phitrace"]["wire_body"]["bytes"] == entry["request"]["bodySize"]
