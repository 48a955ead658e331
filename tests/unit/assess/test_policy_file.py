"""Policy files: every problem with its file and line, the schema, and `phitrace policy lint`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from phitrace.assess.policy import PolicyError
from phitrace.assess.policy_file import load_policy, policy_problems, policy_schema
from phitrace.cli.main import main
from phitrace.model import HEALTH_CATEGORIES, IDENTIFIER_CATEGORIES, KINDS, SEVERITIES
from phitrace.resources import data_dir

KNOWN = frozenset({"adobe-analytics", "qualtrics", "google-analytics"})

GOOD = """\
covered_vendors: [adobe-analytics, qualtrics]
allow:
  - vendor: google-analytics
    pages: ["https://www.example.org/careers/*"]
    kinds: [identifier]
severity: {device_id: info}
"""


def problems(tmp_path: Path, text: str, known: frozenset[str] | None = KNOWN) -> list[str]:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return [str(p).removeprefix(f"{path}:") for p in policy_problems(path, known)]


def test_a_valid_policy_has_no_problems(tmp_path: Path) -> None:
    assert problems(tmp_path, GOOD) == []


def test_the_shipped_example_is_clean() -> None:
    from phitrace.catalogue.loader import load_catalogue

    vendors = frozenset(sig.id for sig in load_catalogue().signatures)
    assert policy_problems(data_dir("policies") / "example.yaml", vendors) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("covered_vendors: [adobe-analytics\n", "2: not valid YAML"),
        ("allow:\n  - vendor: google-analytics\n    kinds: [stuff]\n", "3: allow[0].kinds[0]"),
        ("allow:\n  - pages: ['https://x/*']\n", "2: allow[0]: missing required key(s) 'vendor'"),
        ("severity:\n  device_id: severe\n", "2: severity.device_id must be one of high"),
        ("severity:\n  shoe_size: info\n", "2: severity: 'shoe_size' is not an allowed name"),
        ("covered: [qualtrics]\n", "1: the document: unknown key(s) 'covered'"),
        ("covered_vendors: [Adobe Analytics]\n", "1: covered_vendors[0] 'Adobe Analytics' must"),
        (
            "covered_vendors:\n  - qualtrics\n  - adobe-analitycs\n",
            "3: covered_vendors[1]: unknown",
        ),
        ("allow:\n  - vendor: meta-pixl\n", "2: allow[0].vendor: unknown vendor 'meta-pixl'"),
        (
            "covered_vendors: [qualtrics]\nallow:\n  - vendor: qualtrics\n",
            "3: allow[0] can never apply: 'qualtrics' is in covered_vendors",
        ),
        (
            "allow:\n  - vendor: qualtrics\n    pages:\n      - /careers/*\n",
            "4: allow[0].pages[0] '/careers/*' must be a URL glob",
        ),
        (
            "allow:\n  - vendor: qualtrics\n    pages: ['https://*a*b*c*d*e*f*g*h*i*']\n",
            "3: allow[0].pages[0] 'https://*a*b*c*d*e*f*g*h*i*' has more than",
        ),
    ],
)
def test_each_problem_names_its_line(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    text = "covered_vendors: [nobody-a]\nallow:\n  - vendor: nobody-b\n"
    assert [p.split(":")[0] for p in problems(tmp_path, text)] == ["1", "3"]


def test_unlisted_third_parties_and_lists_need_no_signature(tmp_path: Path) -> None:
    text = "covered_vendors: ['third-party:crm.example', 'list:easyprivacy']\n"
    assert problems(tmp_path, text) == []


def test_without_known_vendors_loading_does_not_check_them(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("covered_vendors: [my-own-collector]\n")
    assert load_policy(path).covered_vendors == {"my-own-collector"}
    with pytest.raises(PolicyError, match=r"policy.yaml:1: covered_vendors\[0\]: unknown"):
        load_policy(path, KNOWN)


def test_loading_a_bad_file_lists_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("severity:\n  device_id: severe\n  email: never\n")
    with pytest.raises(PolicyError) as raised:
        load_policy(path)
    assert [p.line for p in raised.value.problems] == [2, 3]


def test_the_schema_enums_are_the_contract_vocabularies() -> None:
    schema = policy_schema()
    severity = schema["properties"]["severity"]
    assert severity["propertyNames"]["enum"] == [*HEALTH_CATEGORIES, *IDENTIFIER_CATEGORIES]
    assert severity["additionalProperties"]["enum"] == list(SEVERITIES)
    kinds = schema["properties"]["allow"]["items"]["properties"]["kinds"]["items"]
    assert kinds["enum"] == list(KINDS)


def test_policy_lint_prints_file_line_problems_and_fails(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("allow:\n  - vendor: meta-pixl\n")
    result = CliRunner().invoke(main, ["policy", "lint", str(path)])
    assert result.exit_code == 1
    assert f"{path}:2: allow[0].vendor: unknown vendor 'meta-pixl'" in result.output
    assert "1 problem(s)" in result.output


def test_policy_lint_passes_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    result = CliRunner().invoke(main, ["policy", "lint", str(path)])
    assert result.exit_code == 0, result.output
    assert "policy OK" in result.output
