"""A repeatable audit journey: sign in, search, book an appointment, refill a prescription.

Run it through a phitrace proxy so every step's tracker traffic is recorded:

    phitrace proxy --sinkhole --canaries examples/portal/canaries.yaml &
    python -m http.server 8000 --directory examples/portal &
    python examples/journey.py --proxy http://127.0.0.1:8080 --portal http://127.0.0.1:8000

It drives headless Chromium with Playwright (pip install playwright) using the
browser already on the machine (--chromium, default /usr/bin/chromium); it never
downloads a browser.  Adapt the selectors and values to the portal under audit.
"""

from __future__ import annotations

import argparse
import sys

from playwright.sync_api import Page, sync_playwright

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_for_tags(page: Page, count: int) -> None:
    """Wait until the page's tags have fired ``count`` times (so nothing is cut short)."""
    page.wait_for_function(f"Number(document.body.dataset.tagged || 0) >= {count}", timeout=15_000)


def journey(page: Page, portal: str, email: str, search: str, drug: str) -> None:
    page.goto(f"{portal}/index.html")
    wait_for_tags(page, 1)
    page.fill("#email", email)
    page.fill("#password", "correct horse battery staple")
    page.click("button[type=submit]")
    page.wait_for_url("**/home.html")
    wait_for_tags(page, 1)
    page.fill("#q", search)
    page.click("#search button")
    page.wait_for_url("**/search.html*")
    wait_for_tags(page, 2)
    page.goto(f"{portal}/appointments.html")
    wait_for_tags(page, 1)
    page.select_option("#specialty", "Cardiology")
    page.fill("#reason", "chest pain follow-up")
    page.click("#booking button")
    page.wait_for_selector("#confirmation:has-text('Booked')")
    page.goto(f"{portal}/pharmacy.html")
    wait_for_tags(page, 1)
    page.fill("#drug", drug)
    page.click("#refill button")
    page.wait_for_selector("#confirmation:has-text('Refill requested')")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--proxy", default="http://127.0.0.1:8080")
    parser.add_argument("--portal", default="http://127.0.0.1:8000")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--email", default="jane.canary@example.org")
    parser.add_argument("--search", default="metformin side effects")
    parser.add_argument("--drug", default="Metformin")
    args = parser.parse_args(argv)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=args.chromium,
            args=[
                *FLAGS,
                f"--proxy-server={args.proxy}",
                "--proxy-bypass-list=<-loopback>",
                "--ignore-certificate-errors",
            ],
        )
        try:
            journey(browser.new_page(), args.portal.rstrip("/"), args.email, args.search, args.drug)
        finally:
            browser.close()
    print("journey complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
