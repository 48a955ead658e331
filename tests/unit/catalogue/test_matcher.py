"""Matching requests against the catalogue: host suffixes, globs, shapes and body keys."""

from __future__ import annotations

import pytest

from phitrace.catalogue.loader import load_catalogue
from phitrace.catalogue.matcher import Catalogue, body_document
from phitrace.catalogue.model import SignatureError
from phitrace.model import Request
from tests.unit.catalogue.documents import BASE, COLLECT, SHAPE, TRACKER, catalogue_of


def _vendor(catalogue: Catalogue, url: str, method: str = "GET", body: str = "") -> str | None:
    match = catalogue.match(Request(method, url, body=body.encode()))
    return match.signature.id if match else None


@pytest.mark.parametrize(
    ("url", "vendor"),
    [
        ("https://tracker.example/p", "tracker"),
        ("https://a.b.tracker.example/p?x=1", "tracker"),
        ("https://nottracker.example/p", None),
        ("https://tracker.example.org/p", None),
        ("https://TRACKER.example:8443/p", "tracker"),
    ],
)
def test_hosts_match_by_domain_suffix_only(url: str, vendor: str | None) -> None:
    assert _vendor(catalogue_of(TRACKER), url) == vendor


def test_paths_and_methods_restrict_an_endpoint() -> None:
    catalogue = catalogue_of(COLLECT)
    assert _vendor(catalogue, "https://x.example/c/1", "POST") == "collect"
    assert _vendor(catalogue, "https://x.example/c/1", "GET") is None
    assert _vendor(catalogue, "https://x.example/other", "POST") is None


def test_host_globs_match_within_one_label() -> None:
    catalogue = catalogue_of(COLLECT)
    assert _vendor(catalogue, "https://region1.x.example/g") == "collect"
    assert _vendor(catalogue, "https://a.region1.x.example/g") is None


def test_a_more_specific_host_wins_over_a_broader_one() -> None:
    broad = "id: broad\n" + BASE + "endpoints: [{hosts: [example.net]}]\n"
    narrow = "id: narrow\n" + BASE + "endpoints: [{hosts: [tt.example.net]}]\n"
    catalogue = catalogue_of(broad, narrow)
    assert _vendor(catalogue, "https://client.tt.example.net/x") == "narrow"
    assert _vendor(catalogue, "https://other.example.net/x") == "broad"


def test_query_shapes_identify_first_party_collectors() -> None:
    catalogue = catalogue_of(SHAPE)
    assert _vendor(catalogue, "https://sgtm.site.org/g/collect?v=2&tid=G-ABC") == "shape"
    assert _vendor(catalogue, "https://sgtm.site.org/g/collect?v=1&tid=G-ABC") is None
    assert _vendor(catalogue, "https://sgtm.site.org/g/collect?v=2") is None


def test_body_shapes_read_nested_json_keys() -> None:
    catalogue = catalogue_of(SHAPE)
    good = '{"writeKey":"k","context":{"library":{"name":"sdk-js"}}}'
    assert _vendor(catalogue, "https://e.site.org/v1/t", "POST", good) == "shape"
    wrong = '{"writeKey":"k","context":{"library":{"name":"other"}}}'
    assert _vendor(catalogue, "https://e.site.org/v1/t", "POST", wrong) is None
    assert _vendor(catalogue, "https://e.site.org/v1/t", "POST", "not json") is None


def test_body_shapes_skip_parsing_when_a_key_is_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    import phitrace.catalogue.matcher as matcher

    calls: list[bytes] = []
    monkeypatch.setattr(matcher, "body_document", lambda b: calls.append(b) or None)
    catalogue = catalogue_of(SHAPE)
    assert _vendor(catalogue, "https://e.site.org/v1/t", "POST", '{"id": 1}') is None
    assert calls == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": {"b": 1}}', {"a": {"b": 1}}),
        (b'[{"a": 1}, {"a": 2}]', {"a": 1}),
        (b'{"a": 1}\n{"type": "event"}\n', {"a": 1}),
        (b"k=v&x=", {"k": "v", "x": ""}),
        (b"\x1f\x8b\x08binary", None),
        (b"", None),
    ],
)
def test_body_documents_for_shapes(body: bytes, expected: object) -> None:
    assert body_document(body) == expected


def test_malformed_urls_do_not_match_or_raise() -> None:
    catalogue = catalogue_of(TRACKER, SHAPE)
    assert catalogue.match(Request("GET", "http://[::1")) is None
    assert catalogue.match(Request("GET", "not a url")) is None


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(SignatureError, match="duplicate"):
        catalogue_of(TRACKER, TRACKER)


@pytest.fixture(scope="module")
def bundled() -> Catalogue:
    return load_catalogue()


def test_the_bundled_catalogue_indexes_hosts_in_a_dict(bundled: Catalogue) -> None:
    catalogue = bundled
    assert len(catalogue) >= 64
    assert isinstance(catalogue._by_suffix, dict)
    assert "bat.bing.com" in catalogue._by_suffix
    assert all(not ep.hosts for _, ep in catalogue._shapes)


@pytest.mark.parametrize(
    ("url", "vendor"),
    [
        ("https://cityofhope.tt.omtrdc.net/m2/cityofhope/mbox/json?mbox=x", "adobe-target"),
        ("https://mcclatchy.sc.omtrdc.net/id?d_visid_ver=5.2.0&mid=1", "adobe-audience-manager"),
        ("https://mcclatchy.sc.omtrdc.net/b/ss/rsid/1/JS-2.22.1/s1?AQB=1", "adobe-analytics"),
        ("https://stats.g.doubleclick.net/g/collect?v=2&tid=G-ABC", "google-analytics"),
        ("https://cm.g.doubleclick.net/pixel?google_nid=1", "google-ads"),
        (
            "https://znabc-brand.siteintercept.qualtrics.com/WRSiteInterceptEngine/?Q_ZID=Z",
            "qualtrics",
        ),
    ],
)
def test_shared_vendor_domains_resolve_to_the_right_product(
    bundled: Catalogue, url: str, vendor: str
) -> None:
    assert _vendor(bundled, url) == vendor
