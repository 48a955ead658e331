"""Which page a request belongs to."""

from __future__ import annotations

from phitrace.capture.pages import PageTracker


def test_origin_only_referers_resolve_to_the_last_document_of_that_origin() -> None:
    pages = PageTracker()
    assert (
        pages.page_for(
            "https://portal.example.org/conditions/diabetes", [("Sec-Fetch-Dest", "document")]
        )
        is None
    )
    got = pages.page_for("https://t.example/p", [("Referer", "https://portal.example.org/")])
    assert got == "https://portal.example.org/conditions/diabetes"


def test_full_referers_are_the_page_and_unknown_origins_stay_as_sent() -> None:
    pages = PageTracker()
    assert (
        pages.page_for("https://t.example/p", [("referer", "https://a.example/x?q=1")])
        == "https://a.example/x?q=1"
    )
    assert (
        pages.page_for("https://t.example/p", [("Referer", "https://b.example/")])
        == "https://b.example/"
    )
    assert pages.page_for("https://t.example/p", []) is None


def test_the_document_memory_is_bounded() -> None:
    pages = PageTracker(max_origins=3)
    for n in range(10):
        pages.seen_document(f"https://site{n}.example/page")
    assert pages.page_for("https://t.example", [("Referer", "https://site0.example/")]) == (
        "https://site0.example/"
    )
    assert pages.page_for("https://t.example", [("Referer", "https://site9.example/")]) == (
        "https://site9.example/page"
    )


def test_a_malformed_referer_gives_no_page_instead_of_raising() -> None:
    pages = PageTracker()
    assert pages.page_for("https://t.example/p", [("Referer", "http://[clinic.example/")]) is None
