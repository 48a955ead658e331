"""The schema of signature files: it agrees with the code, compiles once, and explains itself."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from phitrace.catalogue import schema
from phitrace.catalogue.loader import YAML_LOADER, compose, signature_files
from phitrace.catalogue.model import ENDPOINT_ROLES, FIELD_ROLES, TRACKER_CATEGORIES
from phitrace.model import HEALTH_CATEGORIES, IDENTIFIER_CATEGORIES
from phitrace.resources import data_dir
from tests.unit.catalogue.documents import GOOD_FILE

SCHEMA = schema.schema()
DEFS = SCHEMA["$defs"]
VECTOR = DEFS["vector"]["properties"]


def _finding_categories() -> list[str]:
    pattern = VECTOR["expect"]["properties"]["findings"]["items"]["pattern"]
    found = re.fullmatch(r"\^\(([a-z_|]+)\):\.\+", pattern)
    assert found is not None, pattern
    return found[1].split("|")


@pytest.mark.parametrize(
    ("in_schema", "in_code"),
    [
        (SCHEMA["properties"]["category"]["enum"], TRACKER_CATEGORIES),
        (list(SCHEMA["properties"]["fields"]["properties"]), FIELD_ROLES),
        (VECTOR["expect"]["properties"]["fields"]["propertyNames"]["enum"], FIELD_ROLES),
        (DEFS["endpoint"]["properties"]["role"]["enum"], ENDPOINT_ROLES),
        (_finding_categories(), (*HEALTH_CATEGORIES, *IDENTIFIER_CATEGORIES)),
    ],
    ids=["tracker categories", "field roles", "vector field roles", "endpoint roles", "findings"],
)
def test_the_schemas_enumerations_equal_the_codes(
    in_schema: list[str], in_code: tuple[str, ...]
) -> None:
    assert list(in_schema) == list(in_code)


def test_the_readme_lists_the_field_roles_of_the_code() -> None:
    readme = (data_dir("signatures") / "README.md").read_text("utf-8")
    section = readme.split("Roles: ", 1)[1].split(".\n", 1)[0]
    assert re.findall(r"`([a-z_]+)`", section) == list(FIELD_ROLES)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    Draft202012Validator.check_schema(schema.inline_refs(SCHEMA))


def test_the_validator_is_compiled_once_without_references() -> None:
    assert schema.validator() is schema.validator()
    assert '"$ref"' not in repr(schema.validator().schema).replace("'", '"')


def test_inlining_keeps_a_self_reference_as_a_reference() -> None:
    node = {"type": "array", "items": {"$ref": "#/$defs/node"}}
    document = {"$defs": {"node": node}, "properties": {"a": {"$ref": "#/$defs/node"}}}
    inlined = schema.inline_refs(document)
    assert inlined["properties"]["a"] == node
    assert Draft202012Validator(inlined).is_valid({"a": [[[]]]})
    assert not Draft202012Validator(inlined).is_valid({"a": [[1]]})


BROKEN = [
    GOOD_FILE.replace("category: analytics", "category: spying"),
    GOOD_FILE.replace("[good.example]", "[good]"),
    GOOD_FILE.replace("[good.example]", "[5]"),
    GOOD_FILE.replace("- hosts: [good.example]", "- {hosts: good.example, methods: [GET, FETCH]}"),
    GOOD_FILE.replace("- hosts: [good.example]", "- paths: '*/x'"),
    GOOD_FILE.replace("tests:", "fields: {page_url: [], pii: [x]}\ntests:"),
]


@pytest.mark.parametrize("text", BROKEN)
def test_the_compiled_validator_judges_as_the_schema_file_does(text: str) -> None:
    data = yaml.load(text, Loader=YAML_LOADER)
    original = Draft202012Validator(SCHEMA)
    assert not schema.is_valid(data)
    assert sorted(e.message for e in schema.validator().iter_errors(data)) == sorted(
        e.message for e in original.iter_errors(data)
    )


def test_the_bundled_catalogue_is_valid_for_both() -> None:
    original = Draft202012Validator(SCHEMA)
    for path in signature_files():
        data: Any = yaml.load(path.read_text("utf-8"), Loader=YAML_LOADER)
        assert schema.is_valid(data) and original.is_valid(data), path


def _problems(text: str) -> list[str]:
    data = yaml.load(text, Loader=YAML_LOADER)
    return [str(p) for p in schema.problems("s.yaml", data, compose(text))]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("[good.example]", "['a b']", "s.yaml:6: endpoints[0].hosts[0] 'a b' is not a host name"),
        ("[good.example]", "[]", "s.yaml:6: endpoints[0].hosts must be a non-empty list"),
        ("[good.example]", "5", "s.yaml:6: endpoints[0].hosts must be a string or a non-empty"),
        ("[good.example]", "good", "s.yaml:6: endpoints[0].hosts 'good' is not a host name"),
        ("id: good", "id: Good", "s.yaml:1: id 'Good' must be a lowercase slug like 'meta-pixel'"),
        ("tests:", "fields: {pii: [x]}\ntests:", "s.yaml:7: fields: unknown field role(s) 'pii'"),
        ("tests:", "fields: {page_url: [1]}\ntests:", "s.yaml:7: fields.page_url[0] must be of"),
        (
            "- hosts: [good.example]",
            "- {hosts: [good.example], params: {v: [1]}}",
            "s.yaml:6: endpoints[0].params.v: must be a string glob",
        ),
        (
            "{vendor: good}",
            "{vendor: good, findings: ['x:y']}",
            "s.yaml:9: tests[0].expect.findings[0] 'x:y' must be 'category:matched'",
        ),
    ],
)
def test_problems_say_what_is_wrong_and_where(old: str, new: str, message: str) -> None:
    text = GOOD_FILE.replace(old, new)
    assert text != GOOD_FILE
    problems = _problems(text)
    assert any(p.startswith(message) for p in problems), problems


def test_a_valid_document_has_no_problems() -> None:
    assert _problems(GOOD_FILE) == []
