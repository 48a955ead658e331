"""Benchmark: report and export generation for 1k, 10k and 100k findings (not a test).

Run: python -m tests.bench.bench_report [--sizes 1000,10000,100000] [--browser]

For each size it builds a database through phitrace.store.writer (five findings per
flow, raw requests stored).  It runs ``phitrace report --format html`` as a child
process and prints its wall time, its peak resident set (beside the target of
250 MB at 100k findings) and the file's size; then the time (wall clock and CPU)
to load the findings in this process and render each format, and each output's
size.  With --browser it also opens the HTML report in headless Chromium
(Debian's /usr/bin/chromium) and prints how long the first page of evidence
cards took to appear and one filter change took to apply.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from phitrace.model import Analysis, Finding, Request
from phitrace.report.formats import FORMATS, RAW_FORMATS
from phitrace.store.database import open_database
from phitrace.store.reader import load_findings
from phitrace.store.rows import Record
from phitrace.store.sessions import start_session
from phitrace.store.writer import write_record
from tests.bench.child import measure, phitrace_command

RSS_TARGET_MB = 250.0
"""Peak resident set of ``phitrace report --format html`` at :data:`TARGET_FINDINGS`."""

TARGET_FINDINGS = 100_000

VENDORS = [
    ("meta-pixel", "Meta Pixel", "advertising"),
    ("google-analytics", "Google Analytics", "analytics"),
    ("microsoft-uet", "Microsoft Advertising UET", "advertising"),
    ("adobe-analytics", "Adobe Analytics", "analytics"),
    ("microsoft-clarity", "Microsoft Clarity", "session_replay"),
]
TERMS = [
    ("condition", "diabetes"),
    ("medication", "metformin"),
    ("procedure", "colonoscopy"),
    ("appointment", "appointment"),
    ("lab_test", "a1c"),
]
SEVERITY = ["high", "medium", "low"]


def _analysis(i: int) -> Analysis:
    vendor, name, category = VENDORS[i % len(VENDORS)]
    page = f"https://clinic.example/conditions/page-{i % 997}?ref={i}"
    url = f"https://tracker-{i % 5}.example/collect?dl={page}&cid={i}"
    findings = tuple(
        Finding(
            kind="health" if k < 4 else "identifier",
            category=TERMS[(i + k) % len(TERMS)][0] if k < 4 else "user_id",
            path=f"body.events[{k}].params.page_location",
            trail=("json",),
            value=f"{page} {TERMS[(i + k) % len(TERMS)][1]} visit number {i}-{k}",
            matched=TERMS[(i + k) % len(TERMS)][1] if k < 4 else "user_id",
            rule="bench",
            severity=SEVERITY[(i + k) % 3],
            reason="benchmark data",
        )
        for k in range(5)
    )
    body = (f'{{"events": [{{"page_location": "{page}", "cid": {i}}}]}}' * 4).encode()
    request = Request("POST", url, (("Content-Type", "application/json"),), body, 1.7e9 + i, page)
    return Analysis(
        request=request,
        vendor=vendor,
        vendor_name=name,
        tracker_category=category,
        page_url=page,
        findings=findings,
        severity=min((f.severity for f in findings), key=SEVERITY.index),
    )


def build(path: Path, findings: int) -> float:
    """Write a database with ``findings`` findings; return the seconds it took."""
    start = time.perf_counter()
    db = open_database(path)
    session = start_session(db, source="har", label=f"bench {findings}")
    with db.atomic():
        for i in range(findings // 5):
            write_record(db, Record(session, _analysis(i), status_code=204), True)
    db.close()
    return time.perf_counter() - start


def measure_browser(html: Path) -> tuple[float, float]:
    """Seconds until the first page of evidence cards shows, and for one filter change."""
    from playwright.sync_api import sync_playwright

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as manager:
        browser = manager.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(html.as_uri(), timeout=300_000)
        page.wait_for_selector("#cards > li", timeout=300_000)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        page.select_option("#filter-vendor", "meta-pixel")
        # A selector, not wait_for_function: the report's policy forbids evaluating strings.
        page.locator("#cards-status", has_text="matching").wait_for(timeout=300_000)
        filtered = time.perf_counter() - start
        browser.close()
    return loaded, filtered


def measure_report(db_path: Path, html: Path, size: int) -> None:
    """Run ``phitrace report`` for the HTML report as a child; print time, peak RSS and size."""
    command = phitrace_command("report", "--db", str(db_path), "--format", "html", "-o", str(html))
    result = measure(command, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"phitrace report failed: {result.output[-2000:]}")
    target = ""
    if size == TARGET_FINDINGS:
        met = "met" if result.peak_mb <= RSS_TARGET_MB else "NOT met"
        target = f" (target ≤ {RSS_TARGET_MB:.0f} MB: {met})"
    print(
        f"  phitrace report --format html: {result.seconds:6.2f}s wall, "
        f"peak RSS {result.peak_mb:7.1f} MB{target}, {html.stat().st_size / 1e6:8.2f} MB file"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--browser", action="store_true", help="also time the HTML in Chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            db_path = Path(tmp) / f"bench-{size}.db"
            built = build(db_path, size)
            print(f"\n{size} findings (database written in {built:.1f}s)")
            html = Path(tmp) / f"report-{size}.html"
            measure_report(db_path, html, size)
            if args.browser:
                loaded, filtered = measure_browser(html)
                print(f"  chromium: first page shown {loaded:.2f}s, filter {filtered:.2f}s")
            html.unlink()
            print("  in this process (load_findings, then the format's function):")
            db = open_database(db_path)
            for name, export in FORMATS.items():
                start, cpu = time.perf_counter(), time.process_time()
                findings = load_findings(db, raw=name in RAW_FORMATS)
                text = export(findings)
                took, cpu = time.perf_counter() - start, time.process_time() - cpu
                size_mb = len(text.encode("utf-8", "backslashreplace")) / 1e6
                print(f"  {name:<6} {took:6.2f}s wall {cpu:6.2f}s cpu  {size_mb:8.2f} MB")
            db.close()


if __name__ == "__main__":
    main()
