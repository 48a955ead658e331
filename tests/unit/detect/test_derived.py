"""The derived-vocabulary cache: a hit equals a fresh build; a bad or stale cache rebuilds."""

from __future__ import annotations

import multiprocessing
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from phitrace.detect import derived
from phitrace.detect.vocabulary import Vocabulary, build
from phitrace.resources import data_dir

BUNDLED = data_dir("signatures") / "health"

SMALL = """\
category: condition
source: test
licence: CC0
terms:
  - asthma
  - term: migraine
    variants: [migraines]
"""
STOPLIST = "source: test\nlicence: CC0\nstoplist: [rash]\n"
CONTEXT = "source: test\nlicence: CC0\ncontext: [symptoms]\n"


def tables(vocabulary: Vocabulary) -> dict[str, Any]:
    """Everything a vocabulary matches with, as comparable values (markers by kind)."""
    matcher = vocabulary.prepare()._state["matcher"]
    return {
        "terms": dict(vocabulary.terms),
        "lists": (vocabulary.stoplist, vocabulary.search_params, vocabulary.deny),
        "context": vocabulary.context,
        "imported": vocabulary.imported,
        "table": {p: getattr(v, "kind", v) for p, v in matcher.table.items()},
        "first": matcher.first,
    }


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("PHITRACE_CACHE_DIR", str(path))
    return path


@pytest.fixture
def small(tmp_path: Path) -> Path:
    directory = tmp_path / "health"
    directory.mkdir()
    (directory / "conditions.yaml").write_text(SMALL)
    (directory / "stoplist.yaml").write_text(STOPLIST)
    (directory / "context.yaml").write_text(CONTEXT)
    return directory


def counting(directory: Path, imported: bool = False) -> tuple[Callable[[], Vocabulary], list[int]]:
    """A build function for ``directory`` and the list that counts its calls."""
    calls: list[int] = []

    def run() -> Vocabulary:
        calls.append(1)
        return build(directory, imported)

    return run, calls


def test_a_hit_gives_the_same_vocabulary_as_a_fresh_build(cache: Path) -> None:
    first, calls = counting(BUNDLED, imported=True)
    written = derived.cached_vocabulary(BUNDLED, True, first)
    again = derived.cached_vocabulary(BUNDLED, True, first)
    assert calls == [1]
    assert again is not written
    assert tables(again) == tables(build(BUNDLED, True)) == tables(written)
    text = "Asthma inhaler and metformin for type 2 diabetes, city of hope, cold symptoms"
    assert again.find(text) == written.find(text)
    assert {t.category for t in again.find(text)} >= {"condition", "medication"}


def test_a_hit_keeps_imported_concepts_shared_between_their_variants(cache: Path) -> None:
    derived.cached_vocabulary(BUNDLED, True, lambda: build(BUNDLED, True))
    hit = derived.cached_vocabulary(BUNDLED, True, lambda: pytest.fail("rebuilt"))
    table = hit._state["matcher"].table
    by_concept: dict[tuple[str, str], set[int]] = {}
    for term in table.values():
        if getattr(term, "source", "").startswith("drug-named"):
            by_concept.setdefault((term.category, term.canonical), set()).add(id(term))
    assert by_concept and all(len(ids) == 1 for ids in by_concept.values())


def test_a_changed_yaml_file_makes_the_cache_stale_and_rebuilds(cache: Path, small: Path) -> None:
    run, calls = counting(small)
    assert derived.cached_vocabulary(small, False, run).find("asthma")
    (small / "conditions.yaml").write_text(SMALL.replace("asthma", "eczema"))
    rebuilt = derived.cached_vocabulary(small, False, run)
    assert calls == [1, 1]
    assert rebuilt.find("eczema") and not rebuilt.find("asthma")
    assert derived.cached_vocabulary(small, False, run).find("eczema")
    assert calls == [1, 1]


def test_a_key_of_another_version_is_stale(cache: Path, small: Path) -> None:
    run, calls = counting(small)
    path = derived.cache_path(small, False)
    derived.write(path, "another key", build(small, False))
    assert derived.read(path, derived.cache_key(small, False)) is None
    derived.cached_vocabulary(small, False, run)
    assert calls == [1]
    assert derived.read(path, derived.cache_key(small, False)) is not None


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[: len(blob) // 2],
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),
        lambda blob: b"",
        lambda blob: b"not a cache at all",
    ],
    ids=["truncated", "one-bit", "empty", "foreign"],
)
def test_a_corrupt_file_is_rebuilt_and_replaced(
    cache: Path, small: Path, damage: Callable[[bytes], bytes]
) -> None:
    run, calls = counting(small)
    derived.cached_vocabulary(small, False, run)
    path = derived.cache_path(small, False)
    path.write_bytes(damage(path.read_bytes()))
    assert tables(derived.cached_vocabulary(small, False, run)) == tables(build(small, False))
    assert calls == [1, 1]
    assert derived.read(path, derived.cache_key(small, False)) is not None


def test_the_cache_directory_is_0700_and_its_file_0600_whatever_the_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: Path
) -> None:
    monkeypatch.setenv("PHITRACE_CACHE_DIR", str(tmp_path / "new" / "cache"))
    old = os.umask(0)
    try:
        derived.cached_vocabulary(small, False, lambda: build(small, False))
    finally:
        os.umask(old)
    path = derived.cache_path(small, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_an_unwritable_cache_falls_back_to_building_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    monkeypatch.setenv("PHITRACE_CACHE_DIR", str(blocker / "cache"))
    run, calls = counting(small)
    first = derived.cached_vocabulary(small, False, run)
    second = derived.cached_vocabulary(small, False, run)
    assert calls == [1, 1]
    assert tables(first) == tables(second) == tables(build(small, False))


def test_a_cache_directory_others_can_write_is_not_used(cache: Path, small: Path) -> None:
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    run, calls = counting(small)
    derived.cached_vocabulary(small, False, run)
    derived.cached_vocabulary(small, False, run)
    assert calls == [1, 1]
    assert list(cache.iterdir()) == []


def test_errors_in_the_vocabulary_files_still_raise(cache: Path, small: Path) -> None:
    (small / "conditions.yaml").write_text("category: condition\n")
    with pytest.raises(ValueError, match="missing required key"):
        derived.cached_vocabulary(small, False, lambda: build(small, False))


def _start(cache: str, directory: str, barrier: Any, results: Any) -> None:
    """In a child process: wait for the other one, then load the vocabulary through the cache."""
    os.environ["PHITRACE_CACHE_DIR"] = cache
    barrier.wait()
    vocabulary = derived.cached_vocabulary(
        Path(directory), True, lambda: build(Path(directory), True)
    )
    matcher = vocabulary._state["matcher"]
    results.put((len(matcher.table), sorted(vocabulary.terms), vocabulary.find("metformin")))


def test_two_processes_starting_at_once_both_get_the_vocabulary_and_leave_one_whole_file(
    cache: Path,
) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    children = [
        context.Process(target=_start, args=(str(cache), str(BUNDLED), barrier, results))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    got = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    fresh = build(BUNDLED, True).prepare()
    expected = (fresh.size, sorted(fresh.terms), fresh.find("metformin"))
    assert got == [expected, expected]
    path = derived.cache_path(BUNDLED, True)
    assert [p.name for p in cache.iterdir()] == [path.name]
    hit = derived.read(path, derived.cache_key(BUNDLED, True))
    assert hit is not None and tables(hit) == tables(fresh)
