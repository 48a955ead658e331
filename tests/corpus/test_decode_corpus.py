"""Decoding every captured request of the shared corpus.

Every request with a body or a query string must decode without a decoder
error and within the limits, keep every query parameter, and never lose the
page it came from: when the page's host is in the request, a decoded field
holds it.  Every request to a catalogue vendor that carries its page's URL
(readable once percent-decoded, or only after decoding, as in compressed or
base64 bodies) must yield a decoded field holding that URL in plain text.
Requests to catalogue vendors whose field map names a page-URL field must
yield that field as a readable URL.  Run with ``-s`` to see the fractions,
including how often the vendor's field map names the field that holds the
page (a matter for the signatures, not for decoding).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from tests.shared_corpus import corpus_unavailable

from phitrace.catalogue.loader import load_catalogue
from phitrace.catalogue.matcher import Catalogue
from phitrace.catalogue.model import Signature
from phitrace.decode.request import DEFAULT_LIMITS, decode_request, field_key
from phitrace.model import Decoded, Field, Request

pytestmark = pytest.mark.corpus

REQUESTS = "combined-har-requests/requests.jsonl.gz"
LIMITS = replace(DEFAULT_LIMITS, max_seconds=10.0)
"""The default limits but a generous time: what a request yields must not depend on how
busy the machine running the tests is."""


@dataclass(frozen=True)
class Record:
    request: Request
    page_url: str
    post_data: str


@pytest.fixture(scope="module")
def records(corpus: Path) -> list[Record]:
    path = corpus / REQUESTS
    if not path.exists():
        corpus_unavailable(f"{path} not found")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            body = row.get("post_data") or ""
            if not body and "?" not in row["url"] and ";" not in row["url"]:
                continue
            headers = [("Referer", row["referer"])] if row.get("referer") else []
            if row.get("request_content_type"):
                headers.append(("Content-Type", row["request_content_type"]))
            request = Request(
                row["method"], row["url"], tuple(headers), body.encode("utf-8", "surrogateescape")
            )
            out.append(Record(request, row.get("page_url") or "", body))
    return out


@pytest.fixture(scope="module")
def decoded(records: list[Record]) -> list[Decoded]:
    return [decode_request(r.request, LIMITS) for r in records]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def test_every_request_decodes_within_the_limits(
    records: list[Record], decoded: list[Decoded]
) -> None:
    limits = LIMITS
    assert len(records) > 3000
    for record, result in zip(records, decoded, strict=True):
        where = record.request.url[:100]
        assert result.truncated is None or "decoder error" not in result.truncated, where
        assert len(result.fields) <= limits.max_fields, where
        assert all(len(f.value) <= limits.max_value_chars for f in result.fields), where
        assert all(len(f.trail) <= limits.max_depth for f in result.fields), where
    truncated = Counter(r.truncated for r in decoded if r.truncated)
    print(f"\n{len(records)} corpus requests decoded; cut short: {dict(truncated)}")


def test_every_query_parameter_becomes_a_field(
    records: list[Record], decoded: list[Decoded]
) -> None:
    for record, result in zip(records, decoded, strict=True):
        if result.truncated:
            continue
        query = urlsplit(record.request.url).query
        paths = {f.path for f in result.fields}
        for key, _ in parse_qsl(query, keep_blank_values=True):
            path = f"query.{key}"[: LIMITS.max_path_chars]
            assert path in paths, (record.request.url[:100], key)


def _page_host(record: Record) -> str:
    return (urlsplit(record.page_url).hostname or "").removeprefix("www.")


def _raw_text(record: Record) -> str:
    """The query and body as a person would read them (percent-encoding undone twice)."""
    raw = record.request.url.partition("?")[2] + " " + record.post_data
    return unquote(unquote(raw))


def test_the_page_is_never_lost_in_decoding(records: list[Record], decoded: list[Decoded]) -> None:
    carrying = 0
    for record, result in zip(records, decoded, strict=True):
        host = _page_host(record)
        if not host or host not in _raw_text(record):
            continue
        carrying += 1
        values = [f.value for f in result.fields if not f.path.startswith("header.")]
        assert any(host in v for v in values), record.request.url[:120]
    assert carrying > 500


def _still_encoded(value: str) -> bool:
    lowered = value.lower()
    return lowered.startswith(("http%3a", "https%3a", "ahr0c")) or "%2f%2f" in lowered[:24]


def _page_key(record: Record) -> str:
    """The page as trackers copy it: host (without ``www.``) and path, no query or fragment."""
    page = urlsplit(record.page_url)
    return (page.hostname or "").removeprefix("www.") + page.path.rstrip("/")


def _collecting(
    records: list[Record], decoded: list[Decoded], catalogue: Catalogue
) -> list[tuple[Record, Decoded, Signature]]:
    """The requests that a catalogue vendor's collect endpoint receives."""
    out = []
    for record, result in zip(records, decoded, strict=True):
        match = catalogue.match(record.request)
        if match is not None and match.endpoint.role == "collect":
            out.append((record, result, match.signature))
    return out


def _page_fields(result: Decoded, signature: Signature) -> list[Field]:
    return [f for f in result.fields if signature.role_of(field_key(f.path)) == "page_url"]


def test_page_url_fields_of_catalogue_vendors_come_out_readable(
    records: list[Record], decoded: list[Decoded], catalogue: Catalogue
) -> None:
    with_field = readable = 0
    trails: Counter[str] = Counter()
    for _, result, signature in _collecting(records, decoded, catalogue):
        pages = _page_fields(result, signature)
        if pages:
            with_field += 1
            good = [f for f in pages if f.value and not _still_encoded(f.value)]
            assert good, (signature.id, [(f.path, f.value[:80]) for f in pages])
            readable += 1
            trails[good[0].trail_text or "plain"] += 1
    assert with_field > 500 and readable == with_field
    print(
        f"\n{readable}/{with_field} page-URL fields of catalogue vendors readable; "
        f"decoders used: {dict(trails.most_common())}"
    )


def test_the_page_url_is_recovered_from_every_catalogue_vendor_request_carrying_it(
    records: list[Record], decoded: list[Decoded], catalogue: Catalogue
) -> None:
    carrying = recovered = hidden = mapped = 0
    unmapped: Counter[str] = Counter()
    for record, result, signature in _collecting(records, decoded, catalogue):
        page = _page_key(record)
        if "." not in page:
            continue
        in_raw = page in _raw_text(record)
        holders = [f for f in result.fields if page in f.value and f.path != "header.referer"]
        if not in_raw and not holders:
            continue
        carrying += 1
        hidden += not in_raw
        if holders:
            recovered += 1
        else:
            print(f"\nnot recovered: {record.request.url[:120]}")
        if any(page in f.value for f in _page_fields(result, signature)):
            mapped += 1
        else:
            unmapped[signature.id] += 1
    print(
        f"\npage URL recovered from {recovered}/{carrying} catalogue-vendor requests that "
        f"carry it ({recovered / carrying:.1%}); {hidden} of them carry it only in encoded or "
        f"compressed form.  A field the vendor's field map calls page_url holds it in "
        f"{mapped}/{carrying} ({mapped / carrying:.1%}); vendors whose field map misses it: "
        f"{dict(unmapped.most_common())}"
    )
    assert carrying > 500
    assert recovered == carrying
