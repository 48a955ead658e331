"""Imported Adblock Plus lists flag trackers the catalogue does not know."""

from __future__ import annotations

import gzip
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.analyzer import Analyzer
from phitrace.catalogue.lists import (
    LISTS_ENV,
    BlockList,
    BlockListError,
    import_list,
    list_name,
    lists_dir,
    load_blocklist,
    network_rules,
    resource_type,
)
from phitrace.catalogue.loader import load_catalogue
from phitrace.cli.main import main
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Request

LIST = """[Adblock Plus 2.0]
! Title: Example Privacy
! A comment
||unlisted-tracker.example^$third-party
/beacon.gif?$image
||bat.bing.com^
@@||unlisted-tracker.example/allowed/
example.org##.cookie-banner
"""


@pytest.fixture
def lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "lists"
    monkeypatch.setenv(LISTS_ENV, str(folder))
    return folder


def test_network_rules_skip_comments_headers_and_element_hiding() -> None:
    assert network_rules(LIST) == [
        "||unlisted-tracker.example^$third-party",
        "/beacon.gif?$image",
        "||bat.bing.com^",
        "@@||unlisted-tracker.example/allowed/",
    ]


def test_a_list_is_named_by_its_title_or_else_its_file(tmp_path: Path) -> None:
    assert list_name(LIST, tmp_path / "x.txt") == "example-privacy"
    assert list_name("||a.example^\n", tmp_path / "EasyPrivacy.txt.gz") == "easyprivacy"


@pytest.mark.parametrize(
    ("method", "url", "headers", "expected"),
    [
        ("GET", "https://a.example/x", (("Sec-Fetch-Dest", "script"),), "script"),
        ("GET", "https://a.example/x", (("Sec-Fetch-Dest", "iframe"),), "subdocument"),
        ("POST", "https://a.example/x", (("Sec-Fetch-Dest", "empty"),), "xmlhttprequest"),
        ("GET", "https://a.example/pixel.gif?x=1", (), "image"),
        ("GET", "https://a.example/lib.js", (), "script"),
        ("POST", "https://a.example/collect", (), "xmlhttprequest"),
        ("GET", "wss://a.example/socket", (), "websocket"),
        ("GET", "https://a.example/collect", (), "other"),
    ],
)
def test_request_types_for_rule_options(
    method: str, url: str, headers: tuple[tuple[str, str], ...], expected: str
) -> None:
    assert resource_type(Request(method, url, headers=headers)) == expected


def test_rules_options_and_exceptions_are_honoured() -> None:
    blocklist = BlockList([("example-privacy", network_rules(LIST))])
    page = "https://www.site.org/"
    hit = blocklist.check("https://cdn.unlisted-tracker.example/t.js", page, "script")
    assert hit is not None
    assert hit.vendor == "list:example-privacy"
    assert hit.rule == "||unlisted-tracker.example^$third-party"
    assert blocklist.check("https://unlisted-tracker.example/allowed/x", page, "script") is None
    first_party = "https://www.unlisted-tracker.example/"
    assert blocklist.check("https://unlisted-tracker.example/t.js", first_party, "script") is None
    assert blocklist.check("https://cdn.site.org/beacon.gif?a=1", page, "image") is not None
    assert blocklist.check("https://cdn.site.org/beacon.gif?a=1", page, "script") is None


def test_import_copies_the_list_into_the_lists_directory(lists: Path, tmp_path: Path) -> None:
    source = tmp_path / "privacy.txt.gz"
    source.write_bytes(gzip.compress(LIST.encode()))
    imported = import_list(source)
    assert lists_dir() == lists
    assert imported.path == lists / "example-privacy.txt"
    assert imported.rules == 4
    assert imported.path.read_text() == LIST
    renamed = import_list(source, name="My List")
    assert renamed.name == "my-list"
    loaded = load_blocklist()
    assert loaded is not None and loaded.names == ("example-privacy", "my-list")


def test_import_refuses_a_file_without_network_rules(tmp_path: Path, lists: Path) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("! only a comment\nexample.org##.ad\n")
    with pytest.raises(BlockListError, match="no network rules"):
        import_list(source)
    assert not lists.exists()


def test_no_imported_lists_means_no_blocklist(lists: Path) -> None:
    assert load_blocklist() is None


def test_the_analyzer_consults_lists_only_after_the_catalogue(lists: Path) -> None:
    blocklist = BlockList([("example-privacy", network_rules(LIST))])
    analyzer = Analyzer(load_catalogue(), load_vocabulary(imported=False), blocklist=blocklist)
    page = "https://www.site.org/conditions/asthma"
    listed = analyzer.analyse(
        Request("GET", "https://unlisted-tracker.example/p?u=https%3A%2F%2Fx", page_url=page)
    )
    assert listed.vendor == "list:example-privacy"
    assert listed.tracker_category == "other"
    assert listed.vendor_name == "example-privacy: ||unlisted-tracker.example^$third-party"
    known = analyzer.analyse(Request("GET", "https://bat.bing.com/action/0?ti=1", page_url=page))
    assert known.vendor == "microsoft-uet"
    plain = analyzer.analyse(Request("GET", "https://www.site.org/style.css", page_url=page))
    assert plain.vendor is None


def test_the_import_command_reports_what_it_stored(lists: Path, tmp_path: Path) -> None:
    source = tmp_path / "privacy.txt"
    source.write_text(LIST)
    result = CliRunner().invoke(main, ["signatures", "import", str(source), "--name", "ep"])
    assert result.exit_code == 0, result.output
    assert f"imported 4 rules as list:ep into {lists / 'ep.txt'}" in result.output


def test_the_import_command_explains_a_bad_list(lists: Path, tmp_path: Path) -> None:
    source = tmp_path / "empty.txt"
    source.write_text("! nothing\n")
    result = CliRunner().invoke(main, ["signatures", "import", str(source)])
    assert result.exit_code == 1
    assert "no network rules found" in result.output


def test_scan_flags_listed_requests(lists: Path, tmp_path: Path) -> None:
    import json
    import sqlite3

    (tmp_path / "privacy.txt").write_text(LIST)
    import_list(tmp_path / "privacy.txt")
    entry = {
        "startedDateTime": "2025-01-01T00:00:00Z",
        "pageref": "p",
        "request": {
            "method": "GET",
            "url": "https://unlisted-tracker.example/p?x=1",
            "headers": [{"name": "Referer", "value": "https://www.site.org/"}],
        },
        "response": {"status": 200},
    }
    har = tmp_path / "capture.har"
    har.write_text(json.dumps({"log": {"pages": [], "entries": [entry]}}))
    db = tmp_path / "scan.db"
    result = CliRunner().invoke(main, ["scan", str(har), "--db", str(db)])
    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        vendors = [v for (v,) in conn.execute("select vendor from flows")]
    assert vendors == ["list:example-privacy"]


def test_urls_with_undecodable_bytes_are_still_checked() -> None:
    blocklist = BlockList([("house", ["||pixel.example^"])])
    found = blocklist.check("https://pixel.example/p?\udc80", "https://www.example.org/", "image")
    assert found is not None and found.list_name == "house"
