"""Loading signature files: the schema decides what loads, errors name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from phitrace.catalogue.lint import lint_file
from phitrace.catalogue.loader import (
    YAML_LOADER,
    load_catalogue,
    load_file,
    parse_signature,
    signature_files,
)
from phitrace.catalogue.model import SignatureError
from tests.unit.catalogue.documents import BASE, GOOD_FILE, TRACKER, sig


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("id: Bad_Id\n" + BASE + "endpoints: [{hosts: [a.example]}]", "lowercase slug"),
        ("id: x\n" + BASE + "endpoints: [{paths: ['/a']}]", "shape"),
        ("id: x\n" + BASE + "endpoints: [{hosts: ['a b']}]", "not a host"),
        ("id: x\n" + BASE + "endpoints: [{hosts: [a.example], role: beacon}]", "role must be"),
        ("id: x\n" + BASE + "endpoints: [{hosts: [a.example], params: {v: true}}]", "glob"),
        ("id: x\n" + BASE + "endpoints: []", "non-empty"),
        ("id: x\n" + BASE + "endpoints: [{hosts: [a.example]}]\nfields: {pii: [a]}", "role"),
    ],
)
def test_invalid_signatures_are_refused_with_a_reason(doc: str, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        sig(doc)


def test_load_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\n" + BASE + "endpoints:\n  - hosts: [a.example]\n    role: x\n")
    # The problem is the role, on line 7 (the endpoint it belongs to starts on line 6).
    with pytest.raises(
        SignatureError, match=rf"^{path}:7: endpoints\[0\]\.role must be one of collect, "
    ):
        load_file(path)


def test_a_document_built_in_code_has_its_problems_on_line_one() -> None:
    with pytest.raises(SignatureError) as caught:
        parse_signature({"id": "x", "name": "N", "company": "C", "category": "spying"}, "x.yaml")
    assert (caught.value.problem.file, caught.value.problem.line) == ("x.yaml", 1)


# Each of these loaded before the loader checked the schema, though lint refused it.
ONCE_ACCEPTED_BY_THE_LOADER_ONLY = {
    "a lowercase method": (
        "  - hosts: [good.example]",
        "  - {hosts: [good.example], methods: [post]}",
    ),
    "an upper-case host": ("  - hosts: [good.example]", "  - hosts: [Good.example]"),
    "an empty name": ("name: Good", "name: ''"),
    "an empty path list": ("  - hosts: [good.example]", "  - {hosts: [good.example], paths: []}"),
    "a reference that is no URL": ("category: analytics", "category: analytics\nreferences: [x]"),
    "a vector without a request": ('  - request: {url: "https://good.example/p"}\n', "  - "),
    "an empty field map": ("tests:", "fields:\ntests:"),
}


@pytest.mark.parametrize(
    "change", ONCE_ACCEPTED_BY_THE_LOADER_ONLY.values(), ids=list(ONCE_ACCEPTED_BY_THE_LOADER_ONLY)
)
def test_the_loader_refuses_what_lint_refuses_with_lints_first_problem(
    tmp_path: Path, change: tuple[str, str]
) -> None:
    path = tmp_path / "good.yaml"
    text = GOOD_FILE.replace(*change)
    assert text != GOOD_FILE
    path.write_text(text)
    problems, _ = lint_file(path)
    assert problems
    with pytest.raises(SignatureError) as caught:
        load_file(path)
    assert caught.value.problem == problems[0]


def test_a_file_the_loader_accepts_passes_lints_schema_check(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_FILE)
    (signature,) = load_file(path)
    assert lint_file(path) == ([], [signature])


def test_a_signature_without_vectors_loads_though_lint_asks_for_one(tmp_path: Path) -> None:
    path = tmp_path / "tracker.yaml"
    path.write_text(TRACKER)
    assert [s.id for s in load_file(path)] == ["tracker"]
    problems, _ = lint_file(path)
    assert [p.message for p in problems] == [
        "needs at least one test vector expecting vendor 'tracker'"
    ]


@pytest.mark.parametrize(
    ("text", "count"), [("", 0), ("# nothing\n", 0), (TRACKER + "---\n" + TRACKER, 2)]
)
def test_a_file_holds_exactly_one_signature(tmp_path: Path, text: str, count: int) -> None:
    path = tmp_path / "tracker.yaml"
    path.write_text(text)
    with pytest.raises(SignatureError, match=f"one signature; found {count} documents"):
        load_file(path)


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(TRACKER.replace("[tracker.example]", "[tracker.example"))
    with pytest.raises(SignatureError, match=rf"^{path}:\d+: not valid YAML"):
        load_file(path)


def test_a_missing_signature_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="no such signature file or directory"):
        signature_files([tmp_path / "absent.yaml"])


def test_duplicate_ids_across_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(TRACKER)
    (tmp_path / "b.yaml").write_text(TRACKER)
    with pytest.raises(SignatureError, match=r"b\.yaml:1: duplicate signature id 'tracker'"):
        load_catalogue([tmp_path])


def test_yaml_is_read_with_libyaml_when_pyyaml_has_it() -> None:
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert YAML_LOADER is expected


def test_the_bundled_catalogue_loads_every_file() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) == len(signature_files())


def fresh_signatures() -> list[object]:
    """The bundled signatures parsed and validated from their YAML, bypassing any cache."""
    return [sig for file in signature_files() for sig in load_file(file)]


def test_bundled_signatures_from_the_cache_equal_those_parsed_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHITRACE_CACHE_DIR", str(tmp_path))
    first = load_catalogue()
    [cached] = list(tmp_path.iterdir())
    assert cached.name.startswith("signatures-") and cached.stat().st_mode & 0o777 == 0o600
    again = load_catalogue()
    assert list(again.signatures) == list(first.signatures) == fresh_signatures()
    assert again.digest == first.digest


def test_a_damaged_signature_cache_is_parsed_afresh_and_rewritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHITRACE_CACHE_DIR", str(tmp_path))
    load_catalogue()
    [cached] = list(tmp_path.iterdir())
    whole = cached.read_bytes()
    cached.write_bytes(whole[: len(whole) // 3])
    assert list(load_catalogue().signatures) == fresh_signatures()
    assert cached.read_bytes() == whole


def test_extra_signature_files_are_read_afresh_every_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHITRACE_CACHE_DIR", str(tmp_path / "cache"))
    extra = tmp_path / "extra.yaml"
    extra.write_text(GOOD_FILE)
    before = load_catalogue([extra])
    extra.write_text(GOOD_FILE.replace("name: ", "name: Renamed ", 1))
    after = load_catalogue([extra])
    assert before.signatures[-1].name != after.signatures[-1].name
    assert [p.name.split("-")[0] for p in (tmp_path / "cache").iterdir()] == ["signatures"]
