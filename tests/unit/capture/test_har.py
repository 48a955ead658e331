"""Streaming HAR reading: Chrome and Firefox exports, gzip, bodies, page URLs."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest

from phitrace.capture.har import HarError, read_har


def entry(url: str, pageref: str = "page_1", mime: str = "image/gif", **request: object) -> dict:
    return {
        "pageref": pageref,
        "startedDateTime": "2026-01-01T00:00:00.000Z",
        "request": {"method": "GET", "url": url, "headers": [], **request},
        "response": {"status": 200, "content": {"mimeType": mime}},
    }


def write(path: Path, log: dict, compress: bool = False) -> Path:
    data = json.dumps({"log": log}).encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_chrome_exports_name_the_page_by_its_url(tmp_path: Path) -> None:
    har = write(
        tmp_path / "c.har.gz",
        {
            "pages": [{"id": "page_1", "title": "https://www.example.org/conditions/asthma"}],
            "entries": [entry("https://t.example/p")],
        },
        compress=True,
    )
    ((request, status),) = list(read_har(har))
    assert request.page_url == "https://www.example.org/conditions/asthma" and status == 200


def test_firefox_exports_take_the_page_from_its_html_document(tmp_path: Path) -> None:
    har = write(
        tmp_path / "f.har",
        {
            "entries": [
                entry("https://www.example.org/asthma", mime="text/html; charset=utf-8"),
                entry("https://t.example/p"),
            ],
            "pages": [{"id": "page_1", "title": "Asthma | Example Health"}],
        },
    )
    pages = [r.page_url for r, _ in read_har(har)]
    assert pages == ["https://www.example.org/asthma", "https://www.example.org/asthma"]


def test_post_bodies_text_params_and_base64(tmp_path: Path) -> None:
    har = write(
        tmp_path / "b.har",
        {
            "entries": [
                entry("https://t.example/1", method="POST", postData={"text": "a=1&b=2"}),
                entry(
                    "https://t.example/2",
                    method="POST",
                    postData={"params": [{"name": "a", "value": "1"}]},
                ),
                entry(
                    "https://t.example/3",
                    method="POST",
                    postData={
                        "text": base64.b64encode(b"\x1f\x8bzz").decode(),
                        "encoding": "base64",
                    },
                ),
            ]
        },
    )
    assert [r.body for r, _ in read_har(har)] == [b"a=1&b=2", b"a=1", b"\x1f\x8bzz"]


@pytest.mark.parametrize(
    "content", [b"", b'{"log": {"entries": []}}', b"not json", gzip.compress(b'{"log":')]
)
def test_broken_or_empty_files_raise_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.har"
    path.write_bytes(content)
    with pytest.raises(HarError, match="x.har"):
        list(read_har(path))
