"""The Datasette metadata: valid, keyed to the database, and its canned queries run."""

from __future__ import annotations

import importlib.util
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from phitrace.cli.main import main
from phitrace.report.formats import datasette_metadata, datasette_metadata_path
from tests.support.seeded_db import clinic

QUERIES = {"leaks_by_vendor", "leaks_by_page", "leaks_by_category", "canary_hits"}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clinic(tmp_path_factory.mktemp("datasette") / "phitrace.db")


def metadata() -> dict[str, Any]:
    return yaml.safe_load(datasette_metadata_path().read_text(encoding="utf-8"))


def canned(name: str, database: Path) -> list[dict[str, Any]]:
    sql = metadata()["databases"]["phitrace"]["queries"][name]["sql"]
    with closing(sqlite3.connect(database)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql)]


def test_metadata_describes_every_contract_table_and_has_the_canned_queries() -> None:
    phitrace = metadata()["databases"]["phitrace"]
    assert set(phitrace["tables"]) == {"sessions", "flows", "findings", "requests"}
    assert all(table["description"] for table in phitrace["tables"].values())
    assert set(phitrace["queries"]) == QUERIES


def test_leaks_by_vendor_puts_the_worst_vendor_first(database: Path) -> None:
    rows = canned("leaks_by_vendor", database)
    assert (rows[0]["vendor"], rows[0]["high"], rows[0]["flows"]) == ("Meta Pixel", 6, 2)
    assert {r["vendor"] for r in rows} == {
        "Meta Pixel",
        "Google Analytics",
        "Microsoft Advertising UET",
    }


def test_page_category_and_canary_queries(database: Path) -> None:
    pages = canned("leaks_by_page", database)
    assert pages[0]["high"] == 3 and "diabetes" in pages[0]["page_url"]
    categories = {
        (r["kind"], r["category"]): r["findings"] for r in canned("leaks_by_category", database)
    }
    assert categories[("health", "condition")] == 2
    canaries = canned("canary_hits", database)
    assert [(r["canary"], r["found_as"], r["recipient"]) for r in canaries] == [
        ("email", "sha256(lower(trim))", "Meta Pixel")
    ] * 2


def test_metadata_can_be_keyed_to_another_database_name() -> None:
    keyed = yaml.safe_load(datasette_metadata("audit"))
    assert list(keyed["databases"]) == ["audit"]
    assert set(keyed["databases"]["audit"]["queries"]) == QUERIES


def test_datasette_metadata_command(tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(main, ["datasette-metadata"])
    assert shown.exit_code == 0 and Path(shown.output.strip()) == datasette_metadata_path()
    out = tmp_path / "m.yaml"
    written = runner.invoke(main, ["datasette-metadata", "--db", "audit.db", "-o", str(out)])
    assert written.exit_code == 0
    assert list(yaml.safe_load(out.read_text())["databases"]) == ["audit"]
    refused = runner.invoke(main, ["datasette-metadata", "--db", "audit.db"])
    assert refused.exit_code == 2 and "needs -o FILE" in refused.output


SERVE = """
import asyncio, json, sys
import yaml
from datasette.app import Datasette

async def main(database, metadata_path, names):
    metadata = yaml.safe_load(open(metadata_path, encoding="utf-8"))
    ds = Datasette([database], metadata=metadata)
    await ds.invoke_startup()
    answers = {}
    for name in names:
        response = await ds.client.get(f"/phitrace/{name}.json?_shape=array")
        answers[name] = [response.status_code, response.json()]
    print(json.dumps(answers))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
"""


def test_datasette_serves_the_canned_queries(database: Path) -> None:
    # In a process of its own, and never imported here: Datasette leaves throwaway SQLite
    # connections to the garbage collector (one at import), which would surface in a later test.
    if importlib.util.find_spec("datasette") is None:  # not imported here: see above
        pytest.skip("datasette is not installed")
    names = sorted(QUERIES)
    command = [sys.executable, "-c", SERVE, str(database), str(datasette_metadata_path()), *names]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    for name in names:
        status, rows = answers[name]
        assert status == 200, name
        assert rows and rows == canned(name, database), name
