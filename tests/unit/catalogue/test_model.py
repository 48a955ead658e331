"""The signature model: field-map roles, globs, and errors that keep their problem as a value."""

from __future__ import annotations

import pytest

from phitrace.catalogue.model import Problem, SignatureError, compile_glob
from tests.unit.catalogue.documents import BASE, sig


def test_exact_field_keys_win_over_globs_and_globs_keep_their_order() -> None:
    signature = sig(
        "id: f\n" + BASE + "endpoints: [{hosts: [f.example]}]\n"
        "fields:\n"
        "  free_text: ['cd[buttonText]']\n"
        "  search_term: ['props.*.query']\n"
        "  event_properties: ['cd[*]', 'props.**']\n"
    )
    assert signature.role_of("cd[buttonText]") == "free_text"
    assert signature.role_of("cd[value]") == "event_properties"
    assert signature.role_of("props.page.query") == "search_term"
    assert signature.role_of("props.a.b.c") == "event_properties"
    assert signature.role_of("other") is None


def test_exact_field_keys_are_looked_up_without_a_regex() -> None:
    signature = sig(
        "id: f\n" + BASE + "endpoints: [{hosts: [f.example]}]\nfields: {page_url: [dl, 'u.*']}\n"
    )
    exact, glob = signature.fields
    assert (exact.source, exact.pattern) == ("dl", None)
    assert glob.pattern is not None and glob.pattern.match("u.x")


@pytest.mark.parametrize(
    ("glob", "sep", "text", "fits"),
    [
        ("*/collect", None, "/a/b/collect", True),
        ("cd[*]", ".", "cd[x]", True),
        ("cd[*]", ".", "cd[x].y", False),
        ("props.**", ".", "props.a.b", True),
        ("a.b", None, "aXb", False),
    ],
)
def test_globs_treat_everything_but_stars_literally(
    glob: str, sep: str | None, text: str, fits: bool
) -> None:
    assert bool(compile_glob(glob, sep=sep).match(text)) is fits


def test_a_signature_error_keeps_its_problem_as_a_value() -> None:
    problem = Problem("a.yaml", 3, "role must be one of collect, loader, sync")
    error = SignatureError(problem)
    assert error.problem is problem
    assert str(error) == "a.yaml:3: role must be one of collect, loader, sync"
