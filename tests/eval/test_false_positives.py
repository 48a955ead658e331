"""Acceptance: health findings on requests that carry no health data stay at or below 1 %.

Three populations, each rate printed (``pytest tests/eval -s``):

- the corpus's first-party and non-tracker third-party requests, read by the
  generic detector as if each were a tracker (the page's own Referer header
  aside: it names the page, not the payload);
- tracker requests from non-health pages of health sites (about, careers,
  parking, news, store locator…);
- 20k general-web request URLs read as page URLs.
"""

from __future__ import annotations

import gzip
from itertools import product
from urllib.parse import quote

import pytest
from tests.shared_corpus import corpus_dir, record_request, request_records

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.decode.request import decode_request
from phitrace.detect.health import detect_health
from phitrace.detect.vocabulary import Vocabulary, load_vocabulary
from phitrace.model import Field, Request

MAX_RATE = 0.01


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return load_vocabulary().prepare()


def rate(hits: int, total: int, title: str, examples: list[str]) -> float:
    value = hits / total if total else 0.0
    print(f"\n{title}: {hits} of {total} requests with health findings = {value:.2%}")
    for example in examples[:10]:
        print(f"  {example}")
    return value


@pytest.mark.corpus
def test_first_party_and_non_tracker_requests(corpus, vocab: Vocabulary) -> None:  # type: ignore[no-untyped-def]
    catalogue = load_catalogue()
    analyzer = Analyzer(catalogue, vocab)
    total = hits = reported = 0
    examples: list[str] = []
    for record in request_records():
        request = record_request(record)
        if catalogue.match(request) is not None:
            continue
        total += 1
        fields = [f for f in decode_request(request).fields if f.path != "header.referer"]
        found = detect_health(fields, None, vocab)
        if found:
            hits += 1
            examples.append(f"{record['url'][:90]} -> {[f.matched for f in found][:4]}")
        reported += any(f.kind == "health" for f in analyzer.analyse(request).findings)
    assert total > 1000
    assert rate(hits, total, "first-party and non-tracker requests", examples) <= MAX_RATE
    assert rate(reported, total, "the same, as phitrace reports them", []) <= MAX_RATE


PAGES = [
    ("about-us", "About Us"),
    ("careers/registered-nurse-jobs", "Careers | Join Our Team"),
    ("parking-and-directions", "Parking & Directions"),
    ("news/2024/10/new-parking-garage-opens", "News | Hospital Opens New Parking Garage"),
    ("store-locator?zip=94107", "Store Locator"),
    ("contact", "Contact Us"),
    ("privacy-policy", "Privacy Policy"),
    ("terms-and-conditions", "Terms and Conditions"),
    ("donate", "Donate Today"),
    ("volunteer", "Volunteer Opportunities"),
    ("gift-shop", "Gift Shop"),
    ("events/5k-fun-run", "Events | 5K Fun Run"),
    ("blog/meet-our-new-ceo", "Meet Our New CEO"),
    ("visitors/cafeteria-hours", "Cafeteria Hours"),
    ("search?q=parking", "Search results for parking"),
    ("login", "Sign In"),
    ("accessibility", "Accessibility Statement"),
    ("newsroom/press-releases", "Press Releases"),
    ("foundation/annual-gala", "Annual Gala"),
    ("locations/downtown-campus", "Downtown Campus | Directions and Hours"),
]
SITES = [
    ("www.examplehealth.org", "Example Health"),
    ("www.cityofhope.org", "City of Hope"),
    ("www.plannedparenthood.org", "Planned Parenthood"),
    ("www.mayoclinic.org", "Mayo Clinic"),
]


def tracker_hits(path: str, title: str, host: str) -> list[Request]:
    page = quote(f"https://{host}/{path}", safe="")
    name = quote(title, safe="")
    return [
        Request(
            "GET",
            f"https://region1.google-analytics.com/g/collect?v=2&tid=G-1&cid=1.2"
            f"&en=page_view&dl={page}&dt={name}",
        ),
        Request("GET", f"https://www.facebook.com/tr/?id=1&ev=PageView&dl={page}&fbp=fb.1.1.2"),
        Request("GET", f"https://bat.bing.com/action/0?ti=1&evt=pageLoad&p={page}&tl={name}"),
    ]


def test_non_health_pages_of_health_sites(vocab: Vocabulary) -> None:
    analyzer = Analyzer(load_catalogue(), vocab)
    total = hits = 0
    examples: list[str] = []
    for (path, title), (host, org) in product(PAGES, SITES):
        for request in tracker_hits(path, f"{title} | {org}", host):
            analysis = analyzer.analyse(request)
            assert analysis.vendor is not None
            total += 1
            found = [f.matched for f in analysis.findings if f.kind == "health"]
            if found:
                hits += 1
                examples.append(f"{host}/{path} -> {found}")
    assert rate(hits, total, "non-health pages of health sites", examples) <= MAX_RATE


@pytest.mark.corpus
def test_general_web_urls_as_page_urls(corpus, vocab: Vocabulary) -> None:  # type: ignore[no-untyped-def]
    path = corpus_dir() / "adblock-rust-test-data/top500-sitelist.txt.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        urls = [line.strip() for line in handle if line.strip()]
    hits = 0
    examples: list[str] = []
    for url in urls:
        found = detect_health([Field("query.dl", url)], None, vocab)
        if found:
            hits += 1
            examples.append(f"{url[:90]} -> {[f.matched for f in found]}")
    assert rate(hits, len(urls), "general-web URLs read as page URLs", examples) <= MAX_RATE
