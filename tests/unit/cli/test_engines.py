"""The same sessions, written by the same code into SQLite and PostgreSQL, read the same.

``report`` (Markdown and JSON), ``check`` and ``compare`` are run on a SQLite
file and on a PostgreSQL database seeded alike; their output must match but
for the time each report was generated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from phitrace.cli.main import main
from phitrace.store.target import PostgresTarget, Target
from tests.support.postgres import Server
from tests.support.seeded_db import clinic, consent_pair, logged_in_portal, many

SEEDS: dict[str, Callable[[Target], Target]] = {
    "clinic": clinic,
    "consent_pair": consent_pair,
    "logged_in_portal": logged_in_portal,
    "many": lambda target: many(target, 60),
}

_GENERATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def run(target: Target, *args: str) -> Result:
    url = target.url if isinstance(target, PostgresTarget) else str(target)
    return CliRunner().invoke(main, [*args, "--db", url])


def without_times(text: str, seeded: set[str]) -> str:
    """The output with generation times blanked (the seeded session times are kept)."""
    return _GENERATED.sub(lambda m: m.group(0) if m.group(0) in seeded else "<now>", text)


def seeded_times(target: Target) -> set[str]:
    from phitrace.store.database import open_database

    with open_database(target) as db:
        rows = db.execute("select started_at, ended_at from sessions").fetchall()
        flows = db.execute("select timestamp from flows").fetchall()
    return {str(v) for row in rows + flows for v in row if v}


Pair = tuple[Target, Target, set[str]]


@pytest.fixture(params=sorted(SEEDS))
def pair(request: pytest.FixtureRequest, tmp_path: Path, postgres_server: Server) -> Pair:
    """One seed written into a SQLite file and into a PostgreSQL database."""
    seed = SEEDS[request.param]
    sqlite = seed(tmp_path / "seeded.db")
    postgres = seed(postgres_server.target())
    return sqlite, postgres, seeded_times(sqlite)


def same(pair: Pair, *args: str) -> tuple[Result, Result]:
    sqlite, postgres, times = pair
    a, b = run(sqlite, *args), run(postgres, *args)
    assert (a.exit_code, without_times(a.output, times)) == (
        b.exit_code,
        without_times(b.output, times),
    )
    return a, b


@pytest.mark.parametrize("fmt", ["md", "json", "html", "csv", "junit", "sarif"])
def test_report_is_the_same_on_both_engines(pair: Pair, fmt: str) -> None:
    a, _ = same(pair, "report", "--format", fmt, "-o", "-")
    assert a.exit_code == 0, a.output
    if fmt == "json":
        assert json.loads(a.output)["findings"]


def test_check_is_the_same_on_both_engines(pair: Pair) -> None:
    a, _ = same(pair, "check")
    assert a.exit_code in (0, 1), a.output
    assert a.output


@pytest.mark.parametrize("pair", ["consent_pair", "many"], indirect=True)
def test_compare_is_the_same_on_both_engines(pair: Pair) -> None:
    for fmt in ("md", "json"):
        a, _ = same(pair, "compare", "1", "2", "--format", fmt)
        assert a.exit_code == 0, a.output
        assert "2026-01-01" in a.output or "2026-01-02" in a.output


@pytest.mark.parametrize("pair", ["consent_pair", "many"], indirect=True)
def test_diff_is_the_same_on_both_engines(pair: Pair) -> None:
    for fmt in ("text", "json"):
        a, _ = same(pair, "diff", "--old-session", "1", "--new-session", "2", "--format", fmt)
        assert a.exit_code == 0, a.output


def test_a_baseline_and_the_check_against_it_are_the_same_on_both_engines(
    pair: Pair, tmp_path: Path
) -> None:
    sqlite, postgres, times = pair
    baselines = []
    for n, target in enumerate((sqlite, postgres)):
        out = tmp_path / f"baseline-{n}.json"
        result = run(target, "baseline", "-o", str(out))
        assert result.exit_code == 0, result.output
        baselines.append(out)
    texts = [without_times(b.read_text(encoding="utf-8"), times) for b in baselines]
    assert texts[0] == texts[1] and '"fingerprint"' in texts[0]
    a, _ = same(pair, "check", "--baseline", str(baselines[0]))
    assert a.exit_code == 0, a.output


def test_an_unknown_session_is_named_without_the_password(postgres_server: Server) -> None:
    target = clinic(postgres_server.target())
    assert isinstance(target, PostgresTarget)
    result = run(target, "compare", "1", "2")
    assert result.exit_code == 1
    assert "no session 2 in postgresql://phitrace:***@" in result.output
    assert postgres_server.password not in result.output


def _har(n: int) -> dict[str, object]:
    page = f"https://www.example.org/conditions/asthma-{n}"
    tracker = (
        "https://bat.bing.com/action/0?ti=1&evt=pageLoad&p="
        + page.replace(":", "%3A").replace("/", "%2F")
        + f"&vid=visitor{n}"
    )
    entries = [
        {
            "pageref": "page_1",
            "startedDateTime": f"2026-01-01T00:00:0{i}.000Z",
            "request": {"method": "GET", "url": url, "headers": []},
            "response": {"status": status},
        }
        for i, (url, status) in enumerate(((page, 200), (tracker, 204)))
    ]
    return {
        "log": {"version": "1.2", "pages": [{"id": "page_1", "title": page}], "entries": entries}
    }


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_files_scanned_into_either_engine_report_the_same(
    tmp_path: Path, postgres_server: Server, jobs: str
) -> None:
    hars = []
    for n in range(3):
        har = tmp_path / f"capture-{n}.har"
        har.write_text(json.dumps(_har(n)))
        hars.append(str(har))
    sqlite, postgres = tmp_path / "scanned.db", postgres_server.target()
    for target in (sqlite, postgres):
        result = run(target, "scan", *hars, "--jobs", jobs)
        assert result.exit_code == 0, result.output
    if jobs == "1":
        a, _ = same((sqlite, postgres, set()), "report", "--format", "json", "-o", "-")
        document = json.loads(a.output)
        assert len(document["sessions"]) == 3 and document["findings"]
        return
    # Workers write their flows as they finish, so flow and finding ids follow no fixed order.
    documents = [
        json.loads(without_times(run(t, "report", "--format", "json", "-o", "-").output, set()))
        for t in (sqlite, postgres)
    ]
    found = [
        sorted(json.dumps({**f, "id": 0, "flow_id": 0}, sort_keys=True) for f in d["findings"])
        for d in documents
    ]
    assert found[0] == found[1] and len(found[0]) == 9
    assert documents[0]["sessions"] == documents[1]["sessions"]


def test_an_evidence_bundle_holds_the_same_on_both_engines(pair: Pair, tmp_path: Path) -> None:
    import zipfile

    sqlite, postgres, times = pair
    contents = []
    for n, target in enumerate((sqlite, postgres)):
        bundle = tmp_path / f"evidence-{n}.zip"
        result = run(target, "export", "evidence", "-o", str(bundle))
        assert result.exit_code == 0, result.output
        verified = CliRunner().invoke(main, ["export", "verify", str(bundle)])
        assert verified.exit_code == 0, verified.output
        with zipfile.ZipFile(bundle) as archive:
            contents.append(
                {
                    name: without_times(archive.read(name).decode("utf-8", "replace"), times)
                    for name in archive.namelist()
                    if name not in ("manifest.json", "SHA256SUMS")  # they hold the times
                }
            )
    assert contents[0] == contents[1] and contents[0]


@pytest.mark.parametrize("pair", ["consent_pair", "many"], indirect=True)
def test_purging_a_session_leaves_the_same_database_on_both_engines(pair: Pair) -> None:
    a, _ = same(pair, "purge", "--session", "1", "--yes")
    assert a.exit_code == 0 and a.output.startswith("deleted 1 session(s)"), a.output
    after, _ = same(pair, "report", "--format", "json", "-o", "-")
    remaining = [session["id"] for session in json.loads(after.output)["sessions"]]
    assert remaining and 1 not in remaining


def test_diff_compares_a_sqlite_file_with_a_postgresql_database(pair: Pair) -> None:
    from tests.support.postgres import db_arg

    sqlite, postgres, _ = pair
    result = CliRunner().invoke(main, ["diff", str(sqlite), db_arg(postgres), "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert not document["new"] and not document["fixed"] and document["unchanged"]
