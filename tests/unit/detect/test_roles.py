"""Field roles inferred from SDK naming conventions when no field map names a key."""

from __future__ import annotations

import pytest

from phitrace.catalogue.model import FIELD_ROLES
from phitrace.detect.roles import ConventionError, load_conventions, normalise, parse_conventions


@pytest.mark.parametrize(
    ("parent", "leaf", "role"),
    [
        ("", "pageUrl", "page_url"),
        ("page", "url", "page_url"),
        ("pageMetadata", "currentPage", "page_url"),
        ("", "document_referrer", "referrer"),
        ("", "searchTerm", "search_term"),
        ("", "event_name", "event_name"),
        ("ja", "endUserId", "user_id"),
        ("traits", "email", "email"),
        ("", "anonymousId", "client_id"),
        ("page", "name", "page_title"),
        ("", "u", None),
        ("", "color", None),
    ],
)
def test_conventional_names_have_their_role(parent: str, leaf: str, role: str | None) -> None:
    assert load_conventions().role_of(normalise(leaf), normalise(parent)) == role


def test_a_parent_leaf_pair_wins_over_the_bare_leaf() -> None:
    conventions = parse_conventions(
        {"roles": {"page_title": {"leaf": ["name"]}, "page_url": {"parent_leaf": ["page.name"]}}},
        "t.yaml",
        FIELD_ROLES,
    )
    assert conventions.role_of("name") == "page_title"
    assert conventions.role_of("name", "page") == "page_url"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping"),
        ({"roles": {"diagnosis": {"leaf": ["dx"]}}}, "unknown role 'diagnosis'"),
        ({"roles": {"page_url": {"leaf": "url"}}}, "expected a list of key names"),
        ({"roles": {"page_url": {"parent_leaf": ["url"]}}}, "is not 'parent.leaf'"),
        ({"roles": {"page_url": {"keys": ["url"]}}}, "takes 'leaf' and 'parent_leaf'"),
        (
            {"roles": {"page_url": {"leaf": ["url"]}, "referrer": {"leaf": ["URL"]}}},
            "listed under both page_url and referrer",
        ),
    ],
)
def test_malformed_conventions_are_one_line_errors(data: object, message: str) -> None:
    with pytest.raises(ConventionError, match=message) as caught:
        parse_conventions(data, "t.yaml", FIELD_ROLES)
    assert "\n" not in str(caught.value) and str(caught.value).startswith("t.yaml: ")
