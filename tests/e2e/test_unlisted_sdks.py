"""Real browser SDKs that the catalogue does not list are still seen, and so is what they sent.

A portal page bundles real SDKs from the npm registry (tests/e2e/sdks), each
sending to its vendor's own collection host (five of the seven vendors are not in
the catalogue; Countly and OpenReplay are, for the answers their SDKs wait for),
and plants a condition, a site search, a drug and the persona's identity.
Chromium browses it through mitmdump + phitrace in sinkhole mode and in
passive mode with a stand-in for the vendors.  A separate test addon records
every request raw; a small reference decoder here says which planted values
each SDK really sent (the ground truth), and phitrace must have recorded every
SDK's flows (as ``third-party:<registrable domain>`` or a catalogue vendor)
and found every one of those values.  In sinkhole mode it must also have
answered, itself, every CORS preflight and every request carrying a planted
value: anything it lets through meets a stand-in for an offline network.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import shutil
import sqlite3
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from tests.support.e2e import need_tool

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SDK_DIR = Path(__file__).resolve().parent / "sdks"
TRACKERS = Path(__file__).resolve().parents[2] / "signatures" / "trackers"
STAND_IN = SDK_DIR / "stand_in.py"
PAGE = "/conditions/type-2-diabetes?q=insulin+pump"
EMAIL = "jane.canary@example.org"
MEMBER = "MBR-2291-77"

SDKS = {
    "aptabase": "aptabase.com",
    "axiom": "axiom.co",
    "logtail": "betterstack.com",
    "openpanel": "openpanel.dev",
    "openreplay": "openreplay.com",
    "countly": "count.ly",
    "swetrix": "swetrix.com",
}
"""Each SDK in the bundle and the registrable domain of its default collection host."""

PLANTED: dict[str, re.Pattern[str]] = {
    "condition": re.compile(r"diabetes", re.I),
    "search": re.compile(r"insulin[\s_+-]*pump", re.I),
    "drug": re.compile(r"metformin", re.I),
    "email": re.compile(re.escape(EMAIL), re.I),
    "member_id": re.compile(re.escape(MEMBER), re.I),
}
"""Each planted value, as it reads once every encoding is undone."""

CANARIES = f"canaries:\n  email: {EMAIL}\n  member_id: {MEMBER}\n"
MODES = {
    "sinkhole": ("phitrace_sinkhole=true", "sdk_stand_in=unreachable"),
    "passive": ("phitrace_mode=passive", "sdk_stand_in=vendor"),
}


# The reference decoder --------------------------------------------------------
#
# Deliberately simple and independent of phitrace: every text a request
# carries is expanded into every reading a plain decoder can give it, and a
# planted value counts as sent when one of those readings contains it.

MAX_DEPTH = 4
B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")


def _inflate(data: bytes) -> bytes | None:
    """Gzip or zlib data decompressed, else None."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:1] == b"\x78" and data[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
            return zlib.decompress(data)
    except (OSError, EOFError, zlib.error):
        return None
    return None


def _unbase64(token: str) -> bytes | None:
    """A base64 or base64url token decoded, else None."""
    padded = token.rstrip("=") + "=" * (-len(token.rstrip("=")) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_strings(text: str) -> list[str]:
    """Every string (keys and values) of a JSON document, or nothing if it is not JSON."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    out: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                out.append(str(key))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif node is not None:
            out.append(str(node))

    walk(document)
    return out


def readings(data: bytes, chain: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """Every (decode chain, text) a blob of bytes can be read as."""
    inflated = _inflate(data)
    if inflated is not None:
        yield from readings(inflated, f"{chain}gzip>", depth + 1)
        return
    text = data.decode("utf-8", "replace")
    yield chain + "raw", text
    if depth >= MAX_DEPTH:
        return
    decoded = unquote_plus(text)
    if decoded != text:
        yield from readings(decoded.encode(), f"{chain}percent>", depth + 1)
    for value in _json_strings(text):
        if value != text:
            yield from readings(value.encode(), f"{chain}json>", depth + 1)
    for token in B64_TOKEN.findall(text):
        for name, candidate in (("base64", token), ("reversed-base64", token[::-1])):
            raw = _unbase64(candidate)
            if raw is not None and (_inflate(raw) is not None or _printable(raw)):
                yield from readings(raw, f"{chain}{name}>", depth + 1)


def _printable(raw: bytes) -> bool:
    text = raw.decode("utf-8", "replace")
    return bool(text) and sum(c.isprintable() for c in text) / len(text) > 0.8


@dataclass(frozen=True)
class Sent:
    """One raw request as the browser sent it."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    answered_by_phitrace: bool

    @property
    def host(self) -> str:
        return self.url.split("//", 1)[1].split("/", 1)[0].split(":", 1)[0].lower()

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name), "")

    def parts(self) -> Iterator[tuple[str, bytes]]:
        """The URL, each header and the body (its Content-Encoding undone)."""
        yield "url", self.url.encode()
        for name, value in self.headers:
            if name.lower() not in ("host", "content-length"):
                yield f"header.{name.lower()}", value.encode()
        body, encoding = self.body, self.header("content-encoding").lower()
        if encoding in ("gzip", "deflate", "x-gzip"):
            body = _inflate(body) or zlib.decompress(body, -15)
        elif encoding == "br":
            import brotli  # type: ignore[import-untyped]

            body = brotli.decompress(body)
        if body:
            yield (f"body (content-encoding {encoding})" if encoding else "body"), body

    def planted(self) -> dict[str, str]:
        """Which planted values this request carries, each with where and how it was found."""
        found: dict[str, str] = {}
        for place, data in self.parts():
            for chain, text in readings(data):
                for name, pattern in PLANTED.items():
                    if name not in found and pattern.search(text):
                        found[name] = f"{place} {chain}"
        return found


def load_capture(path: Path) -> list[Sent]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        out.append(
            Sent(
                record["method"],
                record["url"],
                [tuple(h) for h in record["headers"]],  # type: ignore[misc]
                base64.b64decode(record["body_b64"]),
                record["answered_by_phitrace"],
            )
        )
    return out


def of_domain(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def ground_truth(sent: list[Sent]) -> dict[str, dict[str, str]]:
    """For each SDK, the planted values its requests carried (and where the first one was)."""
    truth: dict[str, dict[str, str]] = {sdk: {} for sdk in SDKS}
    for request in sent:
        for sdk, domain in SDKS.items():
            if of_domain(request.host, domain):
                for name, where in request.planted().items():
                    truth[sdk].setdefault(name, f"{request.method} {where}")
    return truth


# What phitrace recorded ---------------------------------------------------------

FOUND_BY: dict[str, Callable[[str, str, str], bool]] = {
    "condition": lambda kind, category, text: kind == "health" and "diabetes" in text,
    "search": lambda kind, category, text: category == "health_search" and "insulin" in text,
    "drug": lambda kind, category, text: category == "medication" and "metformin" in text,
    "email": lambda kind, category, text: (
        (kind == "canary" and category == "email") or (kind == "identifier" and "email" in category)
    ),
    "member_id": lambda kind, category, text: kind == "canary" and category == "member_id",
}
"""When a finding stands for a planted value."""


def recorded(db: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """For each SDK: the vendors phitrace gave its flows, and the planted values it found."""
    vendors: dict[str, set[str]] = {sdk: set() for sdk in SDKS}
    found: dict[str, set[str]] = {sdk: set() for sdk in SDKS}
    if not db.exists():
        return vendors, found
    with closing(sqlite3.connect(db)) as conn, conn:
        flows = list(conn.execute("select id, host, vendor from flows"))
        findings = list(
            conn.execute("select flow_id, kind, category, matched, value from findings")
        )
    sdk_of_flow = {}
    for flow_id, host, vendor in flows:
        for sdk, domain in SDKS.items():
            if of_domain(str(host).lower(), domain):
                vendors[sdk].add(str(vendor or ""))
                sdk_of_flow[flow_id] = sdk
    for flow_id, kind, category, matched, value in findings:
        sdk = sdk_of_flow.get(flow_id)
        text = f"{matched} {value}".lower()
        for name, stands_for in FOUND_BY.items():
            if sdk and stands_for(str(kind), str(category), text):
                found[sdk].add(name)
    return vendors, found


def acceptable_vendors(sdk: str) -> set[str]:
    """The vendor ids an SDK's flows may carry: its unlisted third party, or a catalogue entry."""
    catalogue = {
        line.split(":", 1)[1].strip()
        for path in TRACKERS.glob("*.yaml")
        for line in path.read_text(encoding="utf-8").splitlines()[:3]
        if line.startswith("id:")
    }
    return catalogue | {f"third-party:{SDKS[sdk]}"}


def must_stay_local(request: Sent) -> bool:
    """In sinkhole mode phitrace answers these itself: CORS preflights and what carries a value."""
    return request.method == "OPTIONS" or bool(request.planted())


def leaked(sent: list[Sent]) -> dict[str, list[str]]:
    """For each SDK, the requests phitrace should have answered but let through."""
    out: dict[str, list[str]] = {}
    for request in sent:
        for sdk, domain in SDKS.items():
            if of_domain(request.host, domain) and must_stay_local(request):
                if not request.answered_by_phitrace:
                    out.setdefault(sdk, []).append(f"{request.method} {request.url[:80]}")
    return out


def coverage_table(
    mode: str,
    sent: list[Sent],
    truth: dict[str, dict[str, str]],
    vendors: dict[str, set[str]],
    found: dict[str, set[str]],
) -> str:
    """SDK x planted value: sent? found? -- with the requests, what phitrace answered, totals."""
    names = list(PLANTED)
    lines = [
        f"unlisted SDKs, {mode} mode (per planted value: sent/FOUND, sent/miss, '-' not sent)",
        f"{'sdk':<11} {'vendor recorded':<26} {'reqs':>4} {'local':>5} "
        + " ".join(f"{n:<10}" for n in names),
    ]
    sent_total = found_total = 0
    for sdk in SDKS:
        cells = []
        for name in names:
            if name not in truth[sdk]:
                cells.append("-")
                continue
            sent_total += 1
            hit = name in found[sdk]
            found_total += hit
            cells.append("sent/FOUND" if hit else "sent/miss")
        vendor = ",".join(sorted(v or "<none>" for v in vendors[sdk])) or "(no flows)"
        mine = [r for r in sent if of_domain(r.host, SDKS[sdk])]
        local = sum(r.answered_by_phitrace for r in mine)
        lines.append(
            f"{sdk:<11} {vendor[:26]:<26} {len(mine):>4} {local:>5} "
            + " ".join(f"{c:<10}" for c in cells)
        )
    recorded_sdks = sum(1 for sdk in SDKS if vendors[sdk] & acceptable_vendors(sdk))
    lines.append(
        f"SDKs recorded {recorded_sdks}/{len(SDKS)}; planted values found "
        f"{found_total}/{sent_total}"
    )
    return "\n".join(lines)


# The fixture page and the browse -------------------------------------------------


@pytest.fixture(scope="module")
def portal_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The portal page and its SDK bundle, built now with esbuild from the locked packages."""
    need_tool("node", "apt-get install -y nodejs")
    npm = need_tool("npm", "apt-get install -y npm")
    esbuild = SDK_DIR / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=SDK_DIR,
            check=True,
            timeout=300,
        )
    out = tmp_path_factory.mktemp("portal")
    subprocess.run(
        [
            str(esbuild),
            "portal.js",
            "--bundle",
            "--format=iife",
            "--target=es2020",
            "--define:process.env.NODE_ENV='production'".replace("'", '"'),
            "--log-level=error",
            f"--outfile={out / 'portal.bundle.js'}",
        ],
        cwd=SDK_DIR,
        check=True,
        timeout=120,
    )
    shutil.copy(SDK_DIR / "condition.html", out / "condition.html")
    return out


def settle(capture: Path, seconds: float) -> None:
    """Wait until every SDK has sent something (or the time is up)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        hosts = {request.host for request in load_capture(capture)}
        if all(any(of_domain(h, d) for h in hosts) for d in SDKS.values()):
            return
        time.sleep(0.25)


def browse(browser_for: Any, proxy_url: str, url: str, capture: Path) -> object:
    """Open the portal like a person would, let the SDKs send, then leave the page."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    browser = browser_for(proxy_url)
    context = browser.new_context()
    # A person's browser is not driven by automation; some SDKs stay silent when it is.
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'webdriver', {get: () => false})"
    )
    page = context.new_page()
    page.goto(url)
    try:
        page.wait_for_function("window.portalDone === true", timeout=6_000)
    except PlaywrightTimeout:
        pass  # an SDK still retrying an unanswered request; what it sent so far counts
    settle(capture, 5.0)
    page.wait_for_timeout(1_500)  # batched SDKs flush on a timer
    status = json.loads(page.text_content("#status") or "{}")
    page.close(run_before_unload=True)  # flush-on-leave paths: sendBeacon, keepalive
    time.sleep(0.5)
    context.close()
    browser.close()
    return status


@pytest.mark.parametrize("mode", list(MODES))
def test_every_unlisted_sdk_is_recorded_with_every_planted_value_it_sent(
    mode: str,
    portal_site: Path,
    serve: Any,
    start_proxy: Any,
    browser_for: Any,
    figures: Callable[[str], None],
    tmp_path: Path,
) -> None:
    canaries = tmp_path / "canaries.yaml"
    canaries.write_text(CANARIES)
    capture = tmp_path / "capture.jsonl"
    proxy = start_proxy(
        *MODES[mode],
        "connection_strategy=lazy",
        f"phitrace_canaries={canaries}",
        f"sdk_capture_log={capture}",
        args=("-s", str(STAND_IN)),
    )
    status = browse(browser_for, proxy.url, str(serve(portal_site)) + PAGE, capture)
    output = proxy.stop()

    sent = load_capture(capture)
    truth = ground_truth(sent)
    # The fixture itself works: every SDK ran, and with a vendor-like answer to every
    # request (passive mode) each sent planted values.  In sinkhole mode what an SDK
    # sends after its first request depends on how phitrace answered that request.
    silent = [sdk for sdk in SDKS if not any(of_domain(r.host, SDKS[sdk]) for r in sent)]
    assert not silent, f"SDKs sent nothing: {silent}; page status {status}\n{output[-3000:]}"
    if mode == "passive":
        assert all(truth[sdk] for sdk in SDKS), truth

    vendors, found = recorded(proxy.db)
    table = coverage_table(mode, sent, truth, vendors, found)
    figures(table)
    unrecorded = [sdk for sdk in SDKS if not vendors[sdk] & acceptable_vendors(sdk)]
    missed = {
        sdk: sorted(name for name in truth[sdk] if name not in found[sdk])
        for sdk in SDKS
        if set(truth[sdk]) - found[sdk]
    }
    let_through = leaked(sent) if mode == "sinkhole" else {}
    assert not unrecorded and not missed and not let_through, (
        f"{table}\nSDKs without a vendor recorded: {unrecorded}\n"
        f"planted values sent but not found: {missed}\n"
        f"where they were sent: {json.dumps(truth, indent=1)}\n"
        f"preflights and value-carrying requests not answered by the sinkhole: "
        f"{json.dumps(let_through, indent=1)}"
    )
