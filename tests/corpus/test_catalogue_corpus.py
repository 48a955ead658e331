"""The catalogue on real captures: vendor coverage by the corpus's own rules, and EasyPrivacy.

Replays every request in ``combined-har-requests/requests.jsonl.gz``.  The vendor
rules are those ``stats.md`` counts by (host and path rules, not a blocklist);
each maps to the signature ids that may legitimately claim such a request.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from phitrace.catalogue.lists import BlockList, network_rules
from phitrace.catalogue.loader import load_catalogue
from phitrace.catalogue.matcher import Catalogue
from phitrace.catalogue.model import Match
from phitrace.model import Request

pytestmark = pytest.mark.corpus

REPO = Path(__file__).resolve().parents[2]
ADOBE = {
    "adobe-analytics",
    "adobe-audience-manager",
    "adobe-target",
    "adobe-launch",
    "adobe-advertising",
}
GA_HOSTS = ("google-analytics.com", "analytics.google.com")


def _on(host: str, *domains: str) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


Rule = tuple[str, Callable[[str, str, str], bool], set[str]]

# (label as in stats.md, predicate over host/path/url, signature ids allowed to claim it)
RULES: list[Rule] = [
    ("GA/GA4 (any google-analytics.com / analytics.google.com)",
     lambda h, p, u: _on(h, *GA_HOSTS), {"google-analytics"}),
    ("GA4 hits (/g/collect)", lambda h, p, u: _on(h, *GA_HOSTS) and p == "/g/collect",
     {"google-analytics"}),
    ("UA hits (/collect, /j/collect, /r/collect, __utm.gif)",
     lambda h, p, u: _on(h, *GA_HOSTS) and p in ("/collect", "/j/collect", "/r/collect",
                                                   "/__utm.gif"),
     {"google-analytics"}),
    ("gtag.js / GTM loaders (googletagmanager.com)",
     lambda h, p, u: _on(h, "googletagmanager.com"), {"google-tag-manager"}),
    ("DoubleClick (*.doubleclick.net)", lambda h, p, u: _on(h, "doubleclick.net"),
     {"google-ads", "google-analytics"}),
    ("Google Ads conversion (googleadservices.com, google.com/pagead, /ads/ga-audiences)",
     lambda h, p, u: _on(h, "googleadservices.com")
     or (_on(h, "google.com") and (p.startswith("/pagead") or p.startswith("/ads/ga-audiences"))),
     {"google-ads"}),
    ("Meta Pixel hits (facebook.com/tr)", lambda h, p, u: "facebook.com/tr" in u, {"meta-pixel"}),
    ("Meta Pixel loader (connect.facebook.net)", lambda h, p, u: h == "connect.facebook.net",
     {"meta-pixel"}),
    ("Microsoft UET (bat.bing.com)", lambda h, p, u: h == "bat.bing.com", {"microsoft-uet"}),
    ("Adobe Analytics beacons (/b/ss/)", lambda h, p, u: "/b/ss/" in p, {"adobe-analytics"}),
    ("Adobe other (demdex, omtrdc, 2o7, adobedtm, everesttech)",
     lambda h, p, u: _on(h, "demdex.net", "omtrdc.net", "2o7.net", "adobedtm.com",
                         "everesttech.net"), ADOBE),
    ("Qualtrics (*.qualtrics.com)", lambda h, p, u: _on(h, "qualtrics.com"), {"qualtrics"}),
    ("Quantum Metric (*.quantummetric.com)", lambda h, p, u: _on(h, "quantummetric.com"),
     {"quantum-metric"}),
    ("Microsoft Clarity (*.clarity.ms)", lambda h, p, u: _on(h, "clarity.ms"),
     {"microsoft-clarity"}),
    ("LinkedIn Insight (px.ads.linkedin.com, snap.licdn.com)",
     lambda h, p, u: h in ("px.ads.linkedin.com", "snap.licdn.com"), {"linkedin-insight"}),
    ("TikTok Pixel (analytics.tiktok.com)", lambda h, p, u: h == "analytics.tiktok.com",
     {"tiktok-pixel"}),
    ("Snap Pixel (tr*.snapchat.com, sc-static.net)",
     lambda h, p, u: bool(re.match(r"tr[^.]*\.snapchat\.com$", h)) or _on(h, "sc-static.net"),
     {"snap-pixel"}),
    ("Twitter/X pixel (analytics.twitter.com, t.co, ads-twitter.com)",
     lambda h, p, u: h in ("analytics.twitter.com", "t.co") or _on(h, "ads-twitter.com"),
     {"twitter"}),
    ("Pinterest (ct.pinterest.com)", lambda h, p, u: h == "ct.pinterest.com", {"pinterest-tag"}),
    ("Hotjar (*.hotjar.com, *.hotjar.io)", lambda h, p, u: _on(h, "hotjar.com", "hotjar.io"),
     {"hotjar"}),
    ("The Trade Desk (adsrvr.org)", lambda h, p, u: _on(h, "adsrvr.org"), {"the-trade-desk"}),
]  # fmt: skip


@dataclass(frozen=True)
class Replayed:
    """One corpus request and what the catalogue made of it."""

    row: dict[str, object]
    request: Request
    host: str
    path: str
    match: Match | None

    @property
    def vendor(self) -> str | None:
        return self.match.signature.id if self.match else None


_FETCH_DEST = {"javascript": "script", "ecmascript": "script", "image/": "image",
               "text/html": "iframe", "text/css": "style", "font": "font"}  # fmt: skip


def _dest(mime: object) -> str:
    """A browser's Sec-Fetch-Dest, guessed from the response type the HAR recorded."""
    text = str(mime or "").lower()
    return next((dest for key, dest in _FETCH_DEST.items() if key in text), "empty")


def _replay(corpus: Path, catalogue: Catalogue) -> Iterator[Replayed]:
    with gzip.open(corpus / "combined-har-requests" / "requests.jsonl.gz", "rt") as handle:
        for line in handle:
            row = json.loads(line)
            url = str(row["url"])
            parts = urlsplit(url)
            request = Request(
                method=str(row["method"]),
                url=url,
                headers=(("Sec-Fetch-Dest", _dest(row.get("resource_mime"))),),
                body=str(row.get("post_data") or "").encode(),
                page_url=str(row["page_url"]) if row.get("page_url") else None,
            )
            host = (parts.hostname or "").lower()
            yield Replayed(row, request, host, parts.path or "/", catalogue.match(request))


@pytest.fixture(scope="module")
def replayed(corpus: Path) -> list[Replayed]:
    return list(_replay(corpus, load_catalogue()))


def _print(capsys: pytest.CaptureFixture[str], lines: list[str]) -> None:
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_vendor_requests_are_identified_with_the_right_vendor(
    replayed: list[Replayed], capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [f"{'corpus vendor rule':<84} {'requests':>8} {'right':>6} {'wrong':>6} {'missed':>6}"]
    problems = []
    for label, rule, allowed in RULES:
        hits = [r for r in replayed if rule(r.host, r.path, r.request.url)]
        right = [r for r in hits if r.vendor in allowed]
        wrong = [r for r in hits if r.vendor is not None and r.vendor not in allowed]
        missed = [r for r in hits if r.vendor is None]
        lines.append(f"{label:<84} {len(hits):>8} {len(right):>6} {len(wrong):>6} {len(missed):>6}")
        problems += [f"{label}: {r.request.url[:120]} -> {r.vendor}" for r in wrong + missed]
    third = [r for r in replayed if r.row["third_party"]]
    known = sum(1 for r in third if r.vendor)
    vendors = Counter(r.vendor for r in third if r.vendor)
    lines.append(
        f"third-party requests identified: {known} of {len(third)} "
        f"({known / len(third):.0%}) across {len(vendors)} vendors"
    )
    _print(capsys, lines)
    assert sum(1 for _, rule, _ in RULES for r in replayed if rule(r.host, r.path, r.request.url))
    assert not problems, "\n".join(problems[:40])


def test_first_party_requests_are_identified_only_by_payload_shape(
    replayed: list[Replayed], capsys: pytest.CaptureFixture[str]
) -> None:
    first = [r for r in replayed if not r.row["third_party"]]
    claimed = [r for r in first if r.match is not None]
    by_host = [r for r in claimed if r.match is not None and r.match.endpoint.hosts]
    shapes = Counter(f"{r.vendor} on {r.host}" for r in claimed)
    _print(
        capsys,
        [f"first-party requests: {len(first)}; identified by payload shape: {len(claimed)}"]
        + [f"  {n:>3}  {what}" for what, n in shapes.most_common()],
    )
    assert first
    assert not by_host, [r.request.url for r in by_host][:10]


def _explained_hosts() -> set[str]:
    readme = (REPO / "signatures" / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Agreement with EasyPrivacy", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([a-z0-9.-]+\.[a-z0-9-]+)`", section))


def _explained(host: str, explained: set[str]) -> bool:
    return any(host == e or host.endswith("." + e) for e in explained)


def test_agreement_with_easyprivacy_and_every_miss_explained(
    replayed: list[Replayed], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = gzip.decompress((corpus / "adblock-rust-test-data" / "easyprivacy.txt.gz").read_bytes())
    easyprivacy = BlockList([("easyprivacy", network_rules(text.decode()))])
    counts: Counter[str] = Counter()
    list_only: Counter[str] = Counter()
    catalogue_only: Counter[str] = Counter()
    for r in replayed:
        if not r.row["third_party"]:
            continue
        listed = easyprivacy.match(r.request) is not None
        key = {(True, True): "both", (True, False): "catalogue only",
               (False, True): "EasyPrivacy only", (False, False): "neither"}  # fmt: skip
        verdict = key[(r.vendor is not None, listed)]
        counts[verdict] += 1
        if verdict == "EasyPrivacy only":
            list_only[r.host] += 1
        elif verdict == "catalogue only":
            catalogue_only[str(r.vendor)] += 1
    flagged = counts["both"] + counts["EasyPrivacy only"]
    explained = _explained_hosts()
    unexplained = sorted(h for h in list_only if not _explained(h, explained))
    lines = [f"{what:<18} {counts[what]:>6}" for what in
             ("both", "catalogue only", "EasyPrivacy only", "neither")]  # fmt: skip
    lines.append(f"catalogue finds {counts['both']} of the {flagged} third-party requests "
                 f"EasyPrivacy flags ({counts['both'] / flagged:.1%})")  # fmt: skip
    lines.append("EasyPrivacy-only hosts (explained in signatures/README.md):")
    lines += [f"  {n:>3}  {host}" for host, n in list_only.most_common()]
    lines.append("catalogue-only requests by vendor (top 15):")
    lines += [f"  {n:>3}  {vendor}" for vendor, n in catalogue_only.most_common(15)]
    _print(capsys, lines)
    assert flagged > 0
    assert not unexplained, f"EasyPrivacy flags hosts the README does not explain: {unexplained}"
