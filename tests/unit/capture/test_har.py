"""Streaming HAR reading: Chrome and Firefox exports, gzip, bodies, page URLs, hostile files."""

from __future__ import annotations

import base64
import gzip
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from phitrace.capture.har import HarError, read_har
from phitrace.capture.json_stream import BOM
from phitrace.capture.skipped import SHOWN
from phitrace.cli.main import main
from phitrace.model import wire_bytes


def entry(url: str, pageref: str = "page_1", mime: str = "image/gif", **request: object) -> dict:
    return {
        "pageref": pageref,
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "request": {"method": "GET", "url": url, "headers": [], **request},
        "response": {"status": 200, "content": {"mimeType": mime}},
    }


def write(path: Path, log: dict, compress: bool = False) -> Path:
    data = json.dumps({"log": log}).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_chrome_exports_name_the_page_by_its_url(tmp_path: Path) -> None:
    har = write(
        tmp_path / "c.har.gz",
        {
            "pages": [{"id": "page_1", "title": "https://www.example.org/conditions/asthma"}],
            "entries": [entry("https://t.example/p")],
        },
        compress=True,
    )
    ((request, status),) = list(read_har(har))
    assert request.page_url == "https://www.example.org/conditions/asthma" and status == 200


def test_firefox_exports_take_the_page_from_its_html_document(tmp_path: Path) -> None:
    har = write(
        tmp_path / "f.har",
        {
            "entries": [
                entry("https://www.example.org/asthma", mime="text/html; charset=utf-8"),
                entry("https://t.example/p"),
            ],
            "pages": [{"id": "page_1", "title": "Asthma | Example Health"}],
        },
    )
    pages = [r.page_url for r, _ in read_har(har)]
    assert pages == ["https://www.example.org/asthma", "https://www.example.org/asthma"]


def test_post_bodies_text_params_and_base64(tmp_path: Path) -> None:
    har = write(
        tmp_path / "b.har",
        {
            "entries": [
                entry("https://t.example/1", method="POST", postData={"text": "a=1&b=2"}),
                entry(
                    "https://t.example/2",
                    method="POST",
                    postData={"params": [{"name": "a", "value": "1"}]},
                ),
                entry(
                    "https://t.example/3",
                    method="POST",
                    postData={
                        "text": base64.b64encode(b"\x1f\x8bzz").decode(),
                        "encoding": "base64",
                    },
                ),
            ]
        },
    )
    assert [r.body for r, _ in read_har(har)] == [b"a=1&b=2", b"a=1", b"\x1f\x8bzz"]


@pytest.mark.parametrize(
    "content", [b"", b'{"log": {"entries": []}}', b"not json", gzip.compress(b'{"log":')]
)
def test_broken_or_empty_files_raise_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(content)
    with pytest.raises(HarError, match="x.har"):
        list(read_har(path))


GOOD = "https://www.google-analytics.com/g/collect?v=2&tid=G-1&cid=555.777"


def scan(path: Path, db: Path) -> Result:
    return CliRunner().invoke(main, ["scan", str(path), "--db", str(db)])


def stored_urls(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn, conn:
        return [url for (url,) in conn.execute("select url from flows order by id")]


def one_line_error(result: Result, path: Path) -> str:
    """The scan failed cleanly: exit 1 and a single ``Error:`` line naming the file."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {path}: "), line
    return line


def good(**fields: object) -> dict:
    return {**entry(GOOD), **fields}


def bad_request(**fields: object) -> dict:
    return good(request={"method": "GET", "url": GOOD, "headers": [], **fields})


SKIPPED = {
    "entry a string": ("GET /collect", "it is not an object"),
    "request a string": (good(request="GET /collect"), "request is not an object"),
    "no request": ({"pageref": "page_1"}, "it has no request"),
    "url missing": (good(request={"method": "GET"}), "request.url is missing or empty"),
    "url a number": (bad_request(url=7), "request.url is not a string"),
    "method a list": (bad_request(method=["GET"]), "request.method is not a string"),
    "headers not a list": (bad_request(headers={"a": "b"}), "request.headers is not a list"),
    "header a string": (bad_request(headers=["a: b"]), "request.headers[0] is not an object"),
    "header without name": (
        bad_request(headers=[{"value": "b"}]),
        "request.headers[0].name is missing or not a string",
    ),
    "header without value": (
        bad_request(headers=[{"name": "a"}]),
        "request.headers[0].value is missing or not a string",
    ),
    "header value a number": (
        bad_request(headers=[{"name": "a", "value": "b"}, {"name": "n", "value": 5}]),
        "request.headers[1].value is missing or not a string",
    ),
    "postData a list": (bad_request(postData=["a=1"]), "request.postData is not an object"),
    "postData.text a number": (
        bad_request(postData={"text": 12}),
        "request.postData.text is not a string",
    ),
    "params not a list": (
        bad_request(postData={"params": "a=1"}),
        "request.postData.params is not a list",
    ),
    "params with a number": (
        bad_request(postData={"params": [{"name": "a", "value": 1}]}),
        "request.postData.params[0].value is missing or not a string",
    ),
    "encoding a number": (
        bad_request(postData={"text": "a", "encoding": 64}),
        "request.postData.encoding is not a string",
    ),
}


def test_unreadable_entries_are_skipped_with_their_index_and_the_scan_goes_on(
    tmp_path: Path,
) -> None:
    """One file holds every variant (one scan loads the catalogue once): good, bad, good, bad..."""
    entries = [item for bad, _ in SKIPPED.values() for item in (good(), bad)]
    har = write(tmp_path / "x.har", {"entries": entries})
    result = scan(har, tmp_path / "p.db")
    assert result.exit_code == 0 and result.exception is None, result.output
    assert result.stderr.splitlines() == [
        f"warning: {har}: entry {2 * index + 1} skipped: {reason}"
        for index, (_, reason) in enumerate(SKIPPED.values())
    ]
    read, skipped = len(SKIPPED), len(SKIPPED)
    assert result.stdout.strip().endswith(
        f"{read} requests, {read} tracker flows, {read} findings, {skipped} skipped"
    )
    assert len(stored_urls(tmp_path / "p.db")) == read


LENIENT = {
    "startedDateTime a number": good(startedDateTime=1767225600),
    "startedDateTime a list": good(startedDateTime=["2026"]),
    "startedDateTime before year 1 in UTC": good(startedDateTime="0001-01-01T00:00:00+14:00"),
    "startedDateTime after 9999 in UTC": good(startedDateTime="9999-12-31T23:59:59-14:00"),
    "response a string": good(response="204 No Content"),
    "response.status a string": good(response={"status": "204"}),
    "response.content a list": good(response={"status": 200, "content": []}),
    "pageref a number": good(pageref=1),
    "pageref to a missing page": good(pageref="page_404"),
    "params value missing": bad_request(postData={"params": [{"name": "a"}]}),
    "postData null": bad_request(postData=None),
}


def test_malformed_context_fields_leave_the_request_analysed(tmp_path: Path) -> None:
    har = write(tmp_path / "x.har", {"pages": [], "entries": list(LENIENT.values())})
    result = scan(har, tmp_path / "p.db")
    assert result.exit_code == 0 and result.exception is None, result.output
    assert result.stderr == "" and f"{len(LENIENT)} requests, " in result.stdout
    assert len(stored_urls(tmp_path / "p.db")) == len(LENIENT)


def test_pages_that_are_not_a_list_are_ignored_with_a_warning(tmp_path: Path) -> None:
    har = write(tmp_path / "x.har", {"pages": {"id": "page_1"}, "entries": [good()]})
    result = scan(har, tmp_path / "p.db")
    assert result.exit_code == 0 and result.exception is None, result.output
    assert result.stderr.startswith(f"warning: {har}: log.pages skipped: it is not a list")
    assert stored_urls(tmp_path / "p.db") == [GOOD]


def test_only_the_first_skipped_entries_are_described(tmp_path: Path) -> None:
    har = write(tmp_path / "x.har", {"entries": [good(), *["junk"] * 50]})
    result = scan(har, tmp_path / "p.db")
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert len(warnings) == SHOWN + 1 and warnings[-1] == f"warning: {har}: 30 more skipped"
    assert result.stdout.strip().endswith(", 50 skipped")


NOT_HAR = {
    "empty": b"",
    "not json": b"not json",
    "syntax error": b'{"log": {"entries": [}',
    "truncated": b'{"log": {"entries": [{"request": {"url": "https://a.example/"',
    "top level a list": b"[1, 2]",
    "no log": b"{}",
    "entries not a list": b'{"log": {"entries": {"request": {}}}}',
    "entries empty": b'{"log": {"entries": []}}',
    "truncated gzip": gzip.compress(json.dumps({"log": {"entries": [entry(GOOD)]}}).encode())[:-9],
    "corrupt gzip": b"\x1f\x8b" + b"\x08\x00" + b"\xff" * 40,
    "bad gzip header": b"\x1f\x8bnot really gzip",
    "not utf-8": b'{"log": {"entries": [{"request": {"url": "\xff"}}]}}',
}


@pytest.mark.parametrize("content", NOT_HAR.values(), ids=NOT_HAR.keys())
def test_a_file_that_is_not_a_readable_har_is_one_line_and_no_session(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(content)
    db = tmp_path / "p.db"
    one_line_error(scan(path, db), path)
    with closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("select count(*) from sessions").fetchone() == (0,)


def test_a_parse_error_points_near_the_mistake_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(b'{"log": {"entries": [{"request": {"url": "https://a.example/", }}]}}')
    line = one_line_error(scan(path, tmp_path / "p.db"), path)
    assert "not valid JSON" in line and '"https://a.example/", }' in line


@pytest.mark.parametrize("compress", [False, True], ids=["har", "har.gz"])
def test_a_utf8_byte_order_mark_is_skipped(tmp_path: Path, compress: bool) -> None:
    data = BOM + json.dumps({"log": {"entries": [entry(GOOD)]}}).encode()
    path = tmp_path / ("x.har.gz" if compress else "x.har")
    path.write_bytes(gzip.compress(data) if compress else data)
    result = scan(path, tmp_path / "p.db")
    assert result.exit_code == 0, result.output
    assert stored_urls(tmp_path / "p.db") == [GOOD]


def test_a_url_with_a_lone_surrogate_escape_is_scanned_and_stored(tmp_path: Path) -> None:
    har = write(tmp_path / "x.har", {"entries": [entry(GOOD + "&dl=\ud800x")]})
    assert b"\\ud800x" in har.read_bytes()
    result = scan(har, tmp_path / "p.db")
    assert result.exit_code == 0 and result.exception is None, result.output
    assert stored_urls(tmp_path / "p.db") == [GOOD + "&dl=\\ud800x"]


@pytest.mark.parametrize(
    "text", ["\ud800", "\udc00", "a\ud800\u0041", "\ud800\ud800", "\U0001f600\\ud800"]
)
def test_lone_surrogate_escapes_are_kept_as_written(tmp_path: Path, text: str) -> None:
    har = write(
        tmp_path / "x.har",
        {"entries": [entry("https://t.example/" + text, method="POST", postData={"text": text})]},
    )
    ((request, _),) = list(read_har(har))
    assert request.url == "https://t.example/" + text
    assert request.body == wire_bytes(text)
