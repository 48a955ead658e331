"""`phitrace signatures lint`: every problem in signature files, each with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.catalogue.lint import lint_paths
from phitrace.cli.main import main

GOOD = """\
id: good
name: Good
company: Example
category: analytics
endpoints:
  - hosts: [good.example]
tests:
  - request: {url: "https://good.example/p"}
    expect: {vendor: good}
"""


def _lint(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    return [str(p) for p in lint_paths([path], bundled=False)]


def test_the_bundled_catalogue_is_clean() -> None:
    assert lint_paths() == []


def test_a_valid_file_has_no_problems(tmp_path: Path) -> None:
    assert _lint(tmp_path, "good.yaml", GOOD) == []


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    (problem,) = _lint(
        tmp_path, "good.yaml", GOOD.replace("  - hosts: [good.example]", "  - hosts: [good")
    )
    assert problem.startswith(f"{tmp_path / 'good.yaml'}:")
    assert "not valid YAML" in problem


def test_every_schema_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    text = (
        GOOD.replace("category: analytics", "category: spying")
        .replace("  - hosts: [good.example]", "  - hosts: [good.example]\n    colour: red")
        .replace("expect: {vendor: good}", "expect: {vendor: good, fields: {pii: x}}")
    )
    problems = _lint(tmp_path, "good.yaml", text)
    file = tmp_path / "good.yaml"
    assert any(p.startswith(f"{file}:4: category must be one of") for p in problems), problems
    assert any(p.startswith(f"{file}:7: endpoints[0]: unknown key(s) 'colour'") for p in problems)
    assert any(":10:" in p and "'pii' is not an allowed name" in p for p in problems), problems
    assert len(problems) == 3


def test_an_endpoint_without_hosts_needs_a_shape(tmp_path: Path) -> None:
    text = GOOD.replace("  - hosts: [good.example]", "  - hosts: [good.example]\n  - paths: ['/x']")
    (problem,) = _lint(tmp_path, "good.yaml", text)
    assert ":7: endpoints[1]: an endpoint needs 'hosts'" in problem


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("id: good", "id: other"), "id 'other' must equal the file name 'good'"),
        (("expect: {vendor: good}", "expect: {vendor: null}"), "needs at least one test vector"),
    ],
)
def test_catalogue_rules_beyond_the_schema(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    problems = _lint(tmp_path, "good.yaml", GOOD.replace(*change))
    assert any(message in p for p in problems), problems


def test_a_field_key_in_two_roles_is_ambiguous(tmp_path: Path) -> None:
    text = GOOD.replace("tests:", "fields:\n  page_url: [u]\n  referrer: [u]\ntests:")
    (problem,) = _lint(tmp_path, "good.yaml", text)
    assert ":9: field key 'u' is listed under both page_url and referrer" in problem


def test_a_host_claimed_whole_by_two_vendors_is_reported(tmp_path: Path) -> None:
    _lint(tmp_path, "good.yaml", GOOD)
    twin = GOOD.replace("good", "twin").replace("twin.example", "good.example")
    problems = _lint(tmp_path, "twin.yaml", twin)
    assert problems == []
    both = [str(p) for p in lint_paths([tmp_path], bundled=False)]
    assert any("claimed whole by both good and twin" in p for p in both)


def test_the_lint_command_prints_problems_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("id: good", "id: bad").replace("category: analytics", "category: x")
    )
    result = CliRunner().invoke(main, ["signatures", "lint", "--signatures", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4: category must be one of" in result.output
    assert "1 problem(s)" in result.output


def test_the_lint_command_passes_on_the_bundled_catalogue() -> None:
    result = CliRunner().invoke(main, ["signatures", "lint"])
    assert result.exit_code == 0, result.output
    assert "signatures OK" in result.output
