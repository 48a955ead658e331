"""An HTML document's title, description and headings, read within bounds."""

from __future__ import annotations

import gzip
import time

from phitrace.decode.document import (
    MAX_DOCUMENT_BYTES,
    MAX_HEADINGS,
    MAX_TEXT_CHARS,
    PageText,
    read_document,
)

PAGE = (
    b"<!doctype html><html><head><title> Living with\n  diabetes </title>"
    b'<meta name="description" content="Care plans for type 2 diabetes">'
    b"<script>document.write('<h1>not a heading</h1>')</script></head>"
    b"<body><h1>Your care <b>plan</b></h1><p>text</p><h2>Medications</h2><h3>x</h3></body></html>"
)


def test_the_title_description_and_h1_h2_headings_are_read() -> None:
    assert read_document(PAGE, "text/html; charset=utf-8") == PageText(
        "Living with diabetes",
        "Care plans for type 2 diabetes",
        ("Your care plan", "Medications"),
    )


def test_a_gzip_document_is_read_through_its_content_encoding() -> None:
    assert read_document(gzip.compress(PAGE), "text/html", "gzip").title == "Living with diabetes"


def test_a_document_in_another_charset_is_decoded_by_it() -> None:
    page = "<title>Diabète</title>".encode("latin-1")
    assert read_document(page, "text/html; charset=iso-8859-1").title == "Diabète"


def test_only_the_first_bytes_of_a_huge_document_are_read() -> None:
    page = b"<h1>a</h1>" + b"<p>x</p>" * (MAX_DOCUMENT_BYTES // 8) + b"<title>late</title>"
    started = time.perf_counter()
    text = read_document(page)
    assert text.title is None and text.headings == ("a",)
    assert time.perf_counter() - started < 2


def test_texts_and_headings_are_cut_to_their_bounds() -> None:
    page = b"<title>" + b"x" * 5000 + b"</title>" + b"<h2>h</h2>" * 50
    text = read_document(page)
    assert text.title is not None and len(text.title) == MAX_TEXT_CHARS
    assert len(text.headings) == MAX_HEADINGS


def test_garbage_gives_an_empty_reading_not_an_error() -> None:
    assert read_document(b"\xff\xfe<<<</title\x00>", "text/html; charset=nonsense") == PageText()
    assert read_document(b"\x1f\x8b\x08broken", "text/html", "gzip") == PageText()


def test_headings_inside_scripts_or_left_unclosed_are_not_read() -> None:
    page = (
        b"<html><head><title>T</title></head><body><script>var s = '<h1>fake</h1>';</script>"
        b"<h1>unclosed<p>" + b"y" * 5000 + b"<h2 class='a'>Real &amp; kept</h2></body>"
    )
    assert read_document(page).headings == ("Real & kept",)


def test_a_large_page_is_read_in_a_few_milliseconds() -> None:
    page = b"<head><title>T</title></head><body>" + b"<div><p>t</p><a href=x>l</a></div>" * 12000
    started = time.perf_counter()
    read_document(page + b"<h1>end</h1>")
    assert time.perf_counter() - started < 0.25  # the whole-body parse took ~30 ms a page
