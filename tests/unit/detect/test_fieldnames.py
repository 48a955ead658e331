"""A field path's names and roles, remembered per signature object."""

from __future__ import annotations

from phitrace.catalogue.loader import parse_signature
from phitrace.catalogue.model import Signature
from phitrace.detect.fieldnames import FieldNames, field_names, key_parts, path_table


def _signature(fields: dict[str, list[str]]) -> Signature:
    return parse_signature(
        {
            "id": "same-id",
            "name": "Test",
            "company": "Test",
            "category": "analytics",
            "endpoints": [{"hosts": ["collect.example"]}],
            "fields": fields,
        },
        "test.yaml",
    )


def test_a_path_reads_as_its_key_last_names_and_both_roles() -> None:
    signature = _signature({"hashed_email": ["ud[em]"]})
    table = path_table(signature)
    names = field_names(table, signature, "query.ud[em]")
    assert names == FieldNames("ud[em]", "em", "ud", "hashed_email", None)
    assert table["query.ud[em]"] is names
    assert key_parts("body.page.url") == ("page.url", "url", "page")
    assert field_names(path_table(None), None, "body.page.url").conventional == "page_url"


def test_signatures_with_the_same_id_keep_their_own_field_maps() -> None:
    first, second = _signature({"email": ["e"]}), _signature({"phone": ["e"]})
    assert path_table(first) is path_table(first)
    assert path_table(first) is not path_table(second)
    assert field_names(path_table(first), first, "query.e").mapped == "email"
    assert field_names(path_table(second), second, "query.e").mapped == "phone"
