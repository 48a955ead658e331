"""A scripted QA journey through the phitrace proxy, in headless Chromium.

Signs in to the fixture site with the QA persona's e-mail, reads a condition page,
searches, and books an appointment: each step fires the site's tracker tags. The
browser trusts mitmproxy's CA from the shared CA volume (imported into Chromium's
NSS database), so HTTPS to the trackers is intercepted the way a tester's browser
would see it. Exits non-zero when a step or a tracker hit fails.

Adapt the steps and selectors to the site under audit; keep the proxy settings.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--no-pings",
    "--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter",
]
STEP_TIMEOUT_MS = 20_000


def trust_ca(ca: Path, nssdb: Path) -> None:
    """Import mitmproxy's CA into the NSS database Chromium reads on Linux."""
    nssdb.mkdir(parents=True, exist_ok=True)
    db = f"sql:{nssdb}"
    if not (nssdb / "cert9.db").exists():
        subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", db, "-n", "mitmproxy", "-t", "C,,", "-i", str(ca)], check=True
    )


class Journey:
    """The steps, with a running count of tag calls the page has completed."""

    def __init__(self, page: Page, site: str) -> None:
        self.page = page
        self.site = site.rstrip("/")
        self.calls = 0
        self._counted = ("", 0)  # (page URL, tag calls already counted on it)

    def wait_for_tags(self, count: int) -> None:
        """Wait until this page's tags have been called ``count`` times, none failing."""
        self.page.wait_for_function(
            f"Number(document.body.dataset.tagged || 0) >= {count}", timeout=STEP_TIMEOUT_MS
        )
        failed = self.page.evaluate("Number(document.body.dataset.failed || 0)")
        if failed:
            raise RuntimeError(f"{failed} tracker hit(s) failed on {self.page.url}")
        url, counted = self._counted
        self.calls += count - (counted if url == self.page.url else 0)
        self._counted = (self.page.url, count)

    def run(self, email: str, search: str, specialty: str, reason: str) -> None:
        page = self.page
        page.goto(f"{self.site}/index.html")
        page.fill("#email", email)
        page.fill("#password", "correct horse battery staple")
        page.click("#signin button")
        page.wait_for_selector("body[data-signed-in=yes]", timeout=STEP_TIMEOUT_MS)
        self.wait_for_tags(2)  # page view, login
        page.click("text=Type 2 diabetes")
        page.wait_for_url("**/conditions/type-2-diabetes.html")
        self.wait_for_tags(1)
        page.goto(f"{self.site}/index.html")
        self.wait_for_tags(1)
        page.fill("#q", search)
        page.click("#search button")
        page.wait_for_url("**/search.html?*")
        self.wait_for_tags(2)  # page view, search
        page.goto(f"{self.site}/appointments.html")
        self.wait_for_tags(1)
        page.select_option("#specialty", specialty)
        page.fill("#reason", reason)
        page.click("#booking button")
        page.wait_for_selector("#confirmation:has-text('Booked')", timeout=STEP_TIMEOUT_MS)
        self.wait_for_tags(2)  # page view, Schedule


def env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxy", default=env("QA_PROXY", "http://proxy:8080"))
    parser.add_argument("--site", default=env("QA_SITE", "http://site:8000"))
    parser.add_argument("--ca", type=Path, default=Path(env("QA_CA", "/ca/mitmproxy-ca-cert.pem")))
    parser.add_argument(
        "--ignore-certificate-errors",
        action="store_true",
        default=env("QA_IGNORE_CERTIFICATE_ERRORS", "") in ("1", "true", "yes"),
        help="Do not import the CA; let Chromium accept any certificate instead.",
    )
    parser.add_argument("--chromium", default=env("QA_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--email", default=env("QA_EMAIL", "robin.canary@example.org"))
    parser.add_argument("--search", default="metformin side effects")
    parser.add_argument("--specialty", default="Endocrinology")
    parser.add_argument("--reason", default="insulin dose review")
    args = parser.parse_args(argv)

    flags = [*FLAGS, f"--proxy-server={args.proxy}", "--proxy-bypass-list=<-loopback>"]
    if args.ignore_certificate_errors:
        flags.append("--ignore-certificate-errors")
    else:
        trust_ca(args.ca, Path.home() / ".pki" / "nssdb")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=flags)
        try:
            journey = Journey(browser.new_page(), args.site)
            journey.run(args.email, args.search, args.specialty, args.reason)
        finally:
            browser.close()
    print(f"journey complete: {journey.calls} tag calls, {journey.calls * 3} tracker hits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
