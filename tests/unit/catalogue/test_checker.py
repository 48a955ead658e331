"""The compiled schema check answers as jsonschema does, and refuses what it cannot check."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from phitrace.catalogue import schema
from phitrace.catalogue.checker import compile_check
from phitrace.catalogue.loader import YAML_LOADER, signature_files
from tests.unit.catalogue.documents import GOOD_FILE

SCHEMA = schema.schema()
REFERENCE = schema.validator()  # jsonschema, on the schema with references inlined
CHECK = compile_check(schema.inline_refs(SCHEMA))
DOCUMENTS = [
    yaml.load(path.read_text("utf-8"), Loader=YAML_LOADER) for path in signature_files()[::7]
] + [yaml.load(GOOD_FILE, Loader=YAML_LOADER)]

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([1.0, 1.5]),
    st.sampled_from(
        [
            "",
            "x",
            "GET",
            "post",
            "a.example",
            "A.example",
            "a b",
            "*",
            "https://x.org/",
            "ftp://x",
            "analytics",
            "loader",
            "page_url",
            "condition:x",
            "nope:x",
            "ws://x/",
            "Bad_Id",
            "good",
        ]
    ),
    st.text(max_size=4),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["hosts", "url", "vendor", "x", "page_url"]), inner, max_size=3
        ),
    ),
    max_leaves=6,
)


def _places(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a document, so that any node can be mutated."""
    if isinstance(node, dict):
        keys: list[Any] = list(node)
    elif isinstance(node, list):
        keys = list(range(len(node)))
    else:
        return []
    return [(node, k) for k in keys] + [p for k in keys for p in _places(node[k])]


def _mutate(data: st.DataObject, doc: Any) -> Any:
    """``doc`` with one node, chosen uniformly, replaced, removed or given a new key."""
    doc = copy.deepcopy(doc)
    parent, key = data.draw(st.sampled_from(_places(doc)))
    action = data.draw(st.sampled_from(["replace", "replace", "remove", "add"]))
    if action == "add" and isinstance(parent[key], dict):
        name = data.draw(st.sampled_from(["colour", "hosts", "tests", "fields", "page_url", 1]))
        parent[key][name] = data.draw(_VALUES)
    elif action == "remove":
        del parent[key]
    else:
        parent[key] = data.draw(_VALUES)
    return doc


def test_every_bundled_document_is_valid_for_both() -> None:
    for doc in DOCUMENTS:
        assert CHECK(doc) and REFERENCE.is_valid(doc)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_on_mutated_signatures_the_check_answers_as_jsonschema(data: st.DataObject) -> None:
    doc = _mutate(data, data.draw(st.sampled_from(DOCUMENTS)))
    assert CHECK(doc) == REFERENCE.is_valid(doc), doc


RICH = """\
id: rich-example
name: Rich
company: Example
category: session_replay
description: every keyword of the format
notes: none
references: [https://example.org/docs]
endpoints:
  - hosts: [a.example, 'k-*.b.example']
    paths: ['/c/*']
    methods: [GET, POST]
    params: {v: '2', n: 1}
    body: {'context.library.name': 'sdk*'}
    role: sync
    sinkhole: {status: 200, content_type: application/json, json: {result: [1, ok]}}
  - {paths: '*/collect', params: {tid: 'G-*'}, methods: POST, sinkhole: {status: 204}}
  - {hosts: p.example, sinkhole: {content_type: image/gif, body_base64: R0lGODlh}}
  - {hosts: q.example, sinkhole: {status: 202, body: accepted}}
fields:
  page_url: [dl]
  free_text: 'cd[*]'
tests:
  - name: a hit
    request:
      method: POST
      url: https://a.example/c/1
      headers: {Content-Type: text/plain}
      body: x
      page_url: https://site.example/
    expect:
      vendor: rich-example
      fields: {page_url: x, client_id: 1}
      findings: ['condition:diabetes']
  - request: {url: 'wss://a.example/'}
    expect: {vendor: null}
"""
POOL: list[Any] = [
    None,
    True,
    0,
    1,
    200,
    204,
    2.0,
    2.5,
    "",
    "x",
    "GET",
    "post",
    "a.example",
    "A.example",
    "a b",
    "*",
    "https://x.org/",
    "ftp://x",
    "analytics",
    "loader",
    "page_url",
    "condition:x",
    "nope:x",
    "Bad_Id",
    [],
    [""],
    ["x"],
    [1],
    {},
    {"x": "y"},
    {"x": 1},
]


def test_every_single_change_to_a_rich_document_is_judged_as_jsonschema_judges_it() -> None:
    rich = yaml.load(RICH, Loader=YAML_LOADER)
    assert CHECK(rich) and REFERENCE.is_valid(rich)
    disagreements = []
    for index in range(len(_places(rich))):
        for change in ["remove", "add", *range(len(POOL))]:
            doc = copy.deepcopy(rich)
            parent, key = _places(doc)[index]
            if change == "remove":
                del parent[key]
            elif change == "add":
                if not isinstance(parent[key], dict):
                    continue
                parent[key]["colour"] = "red"
            else:
                parent[key] = copy.deepcopy(POOL[int(change)])
            if CHECK(doc) != REFERENCE.is_valid(doc):
                disagreements.append((index, key, change))
    assert disagreements == []


@pytest.mark.parametrize(
    ("value", "valid"),
    [(1, True), (2.0, True), (2.5, False), (True, False), ("1", False), (None, False)],
)
def test_integers_are_read_as_json_schema_reads_them(value: object, valid: bool) -> None:
    check = compile_check({"type": "integer"})
    assert check(value) is valid
    assert Draft202012Validator({"type": "integer"}).is_valid(value) is valid


def test_a_recursive_definition_compiles() -> None:
    check = compile_check(
        {
            "$defs": {"tree": {"type": "array", "items": {"$ref": "#/$defs/tree"}}},
            "properties": {"t": {"$ref": "#/$defs/tree"}},
        }
    )
    assert check({"t": [[], [[]]]})
    assert not check({"t": [[1]]})


@pytest.mark.parametrize(
    "document",
    [{"oneOf": [{"type": "string"}]}, {"maxLength": 3}, {"enum": [1.5]}, {"$ref": "other.json"}],
)
def test_a_keyword_it_cannot_check_fails_compilation(document: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="support"):
        compile_check(document)


@pytest.mark.parametrize(
    ("value", "valid"),
    [(200, True), (200.0, True), ("200", False), (True, False), (1, False), ("ok", True)],
)
def test_enumerations_of_integers_and_strings_are_read_as_json_schema_reads_them(
    value: object, valid: bool
) -> None:
    document = {"enum": [200, 204, "ok"]}
    assert compile_check(document)(value) is valid
    assert Draft202012Validator(document).is_valid(value) is valid
