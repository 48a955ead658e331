"""Company names for unlisted third-party domains: catalogue companies and imported maps."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.catalogue.entities import EntityError, import_entities, load_entities, parse_entities
from phitrace.catalogue.loader import load_catalogue
from phitrace.cli.main import main

OWNERS = [
    {"id": 1, "parent_id": None, "owner_name": "Google", "domains": ["google.com"]},
    {"id": 2, "parent_id": 1, "owner_name": "DoubleClick", "domains": ["doubleclick.net"]},
]


@pytest.mark.parametrize(
    "data",
    [
        {"Google LLC": ["google.com", "doubleclick.net"]},
        {"Google LLC": {"domains": ["google.com", "doubleclick.net"], "displayName": "Google"}},
        {"entities": {"Google LLC": {"properties": ["google.com"],
                                     "resources": ["doubleclick.net"]}}},
        {"license": "…",
         "entities": {"Google LLC": {"domains": ["google.com", "doubleclick.net"]}}},
    ],
)  # fmt: skip
def test_the_common_entity_formats_give_the_same_owners(data: object) -> None:
    assert parse_entities(data, "e.json") == {
        "google.com": "Google LLC",
        "doubleclick.net": "Google LLC",
    }


def test_owner_lists_name_the_parent_company() -> None:
    owners = parse_entities(OWNERS, "owners.json")
    assert owners == {"google.com": "Google", "doubleclick.net": "Google"}


@pytest.mark.parametrize("data", [[], {}, "text", 7, {"A": ["not a domain", "*.glob.com"]}])
def test_input_without_any_entity_is_refused(data: object) -> None:
    with pytest.raises(EntityError):
        parse_entities(data, "e.json")


def test_import_writes_a_private_normalised_map_and_lookups_use_it(tmp_path: Path) -> None:
    source = tmp_path / "owners.json"
    source.write_text(json.dumps(OWNERS))
    target = tmp_path / "entities"
    imported = import_entities(source, directory=target)
    assert (imported.name, imported.domains, imported.entities) == ("owners", 2, 1)
    assert stat.S_IMODE(imported.path.stat().st_mode) == 0o600
    known = load_entities(directory=target)
    assert known.company_of("stats.g.doubleclick.net") == "Google"
    assert known.company_of("doubleclick.net.evil.example") is None
    assert known.company_of("unknown.example") is None


def test_catalogue_companies_win_over_imported_names(tmp_path: Path) -> None:
    target = tmp_path / "entities"
    target.mkdir()
    (target / "odd.json").write_text(json.dumps({"domains": {"google-analytics.com": "Other"}}))
    (target / "broken.json").write_text("{not json")
    known = load_entities(load_catalogue().signatures, directory=target)
    assert known.company_of("www.google-analytics.com") == "Google LLC"


def test_entities_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHITRACE_ENTITIES", str(tmp_path / "entities"))
    source = tmp_path / "map.json"
    source.write_text(json.dumps({"Example Analytics Inc.": ["examplestats.net"]}))
    runner = CliRunner()
    imported = runner.invoke(main, ["entities", "import", str(source), "--name", "Team Map"])
    assert imported.exit_code == 0, imported.output
    assert "imported 1 domains of 1 companies as team-map" in imported.output
    looked = runner.invoke(main, ["entities", "lookup", "cdn.examplestats.net", "other.example"])
    assert looked.output.splitlines() == [
        "cdn.examplestats.net\tExample Analytics Inc.",
        "other.example\t-",
    ]
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\x00\xff")
    refused = runner.invoke(main, ["entities", "import", str(bad)])
    assert refused.exit_code == 1 and refused.output.count("\n") == 1
