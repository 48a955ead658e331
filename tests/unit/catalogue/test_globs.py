"""Globs match in linear time whatever the pattern, with the semantics of the regex they replace."""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from phitrace.catalogue.lint import lint_paths
from phitrace.catalogue.model import compile_glob

CATASTROPHIC = "/" + "*a" * 14 + "*b"
"""Fourteen stars: as a backtracking regex, hours on a long path that does not fit."""


def _reference(pattern: str, sep: str | None) -> re.Pattern[str]:
    """The regex translation globs used to have (correct, but backtracking)."""
    out = []
    for token in re.findall(r"\*\*|\*|[^*]", pattern):
        if token == "**" or (token == "*" and not sep):
            out.append(".*")
        elif token == "*":
            out.append(f"[^{re.escape(sep or '')}]*")
        else:
            out.append(re.escape(token))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


@pytest.mark.parametrize("sep", [None, "."])
@pytest.mark.parametrize("size", [33, 10_000])
def test_many_stars_against_a_long_path_that_does_not_fit_end_at_once(
    sep: str | None, size: int
) -> None:
    # Not a speed target: a backtracking matcher takes hours here, a linear one
    # milliseconds, so a bound of a second tells them apart even on a loaded machine.
    glob = compile_glob(CATASTROPHIC, sep=sep)
    path = ("/" + "a" * size)[:size]
    start = time.perf_counter()
    fits = glob.match(path)
    elapsed = time.perf_counter() - start
    assert not fits
    assert elapsed < 1.0, elapsed


@pytest.mark.parametrize("sep", [None, "."])
def test_globs_agree_with_the_regex_translation_on_random_texts(sep: str | None) -> None:
    rng = random.Random(12)
    for _ in range(3000):
        pattern = "".join(rng.choice("ab.**") for _ in range(rng.randint(0, 7)))
        text = "".join(rng.choice("ab.") for _ in range(rng.randint(0, 9)))
        expected = _reference(pattern, sep).match(text) is not None
        assert compile_glob(pattern, sep=sep).match(text) is expected, (pattern, text)


@pytest.mark.parametrize(
    ("glob", "sep", "everything"),
    [("*", None, True), ("**", ".", True), ("*", ".", False), ("a*", None, False)],
)
def test_a_glob_knows_when_every_value_fits(glob: str, sep: str | None, everything: bool) -> None:
    assert compile_glob(glob, sep=sep).spans_anything is everything


def test_lint_reports_a_glob_with_many_wildcards(tmp_path: Path) -> None:
    path = tmp_path / "stars.yaml"
    path.write_text(
        "id: stars\nname: Stars\ncompany: Example\ncategory: analytics\n"
        "endpoints:\n"
        f"  - hosts: [stars.example]\n    paths: ['{CATASTROPHIC}']\n"
        "tests:\n"
        '  - request: {url: "https://stars.example/aaaaaaaaaaaaaab"}\n'
        "    expect: {vendor: stars}\n"
    )
    problems = [str(p) for p in lint_paths([path], bundled=False)]
    assert len(problems) == 1
    assert "has 15 wildcards; use at most 6" in problems[0]
    assert problems[0].startswith(f"{path}:7:")  # the line of the paths
