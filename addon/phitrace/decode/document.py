"""Read what an HTML document says about itself: its title, meta description and headings.

Bounded like the request decoders: at most :data:`MAX_DOCUMENT_BYTES` of the
document are read (after undoing ``Content-Encoding`` within a decode budget),
parsing stops after :data:`DOCUMENT_SECONDS`, and each text kept is cut to
:data:`MAX_TEXT_CHARS`.  Pure; a document that cannot be read gives an empty
:class:`PageText`, never an exception.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from html.parser import HTMLParser

from phitrace.decode.budget import Budget, Limits
from phitrace.decode.compression import undo_content_encoding

MAX_DOCUMENT_BYTES = 512 * 1024
"""Bytes of an HTML document read for its title, description and headings."""
DOCUMENT_SECONDS = 0.05
"""Time spent parsing one document."""
MAX_TEXT_CHARS = 300
"""Characters kept of a title, description or heading."""
MAX_HEADINGS = 12
"""Headings kept of one document."""
_FEED = 8 * 1024
_LIMITS = Limits(max_body_bytes=MAX_DOCUMENT_BYTES, max_seconds=DOCUMENT_SECONDS)
_HEADINGS = frozenset({"h1", "h2"})
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg"})
_BODY = re.compile(r"<body\b|</head\s*>", re.IGNORECASE)
_HEADING = re.compile(r"<h([12])\b[^<>]{0,500}>", re.IGNORECASE)
_SCRIPT = re.compile(r"<(/?)(?:script|style|template)\b", re.IGNORECASE)
_HEADING_CHARS = 4096


@dataclass(frozen=True)
class PageText:
    """The texts a document gives about itself, each cut to :data:`MAX_TEXT_CHARS`."""

    title: str | None = None
    description: str | None = None
    headings: tuple[str, ...] = ()


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_TEXT_CHARS]


class _Reader(HTMLParser):
    """Collects the title, the meta description and h1/h2 texts; ignores everything else."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: str | None = None
        self.description: str | None = None
        self.headings: list[str] = []
        self._open: str | None = None
        self._skipping = 0
        self._text: list[str] = []

    def reset_element(self) -> None:
        """Forget an element or tag left open: the next text fed starts afresh."""
        self.reset()
        self._open, self._skipping, self._text = None, 0, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "meta" and self.description is None:
            values = {k.lower(): v or "" for k, v in attrs}
            name = (values.get("name") or values.get("property") or "").lower()
            if name in ("description", "og:description") and values.get("content"):
                self.description = _clean(values["content"])
        elif (tag == "title" and self.title is None) or tag in _HEADINGS:
            self._open, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == self._open:
            text = _clean("".join(self._text))
            if text and tag == "title":
                self.title = text
            elif text and len(self.headings) < MAX_HEADINGS:
                self.headings.append(text)
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None and not self._skipping and sum(map(len, self._text)) < 4096:
            self._text.append(data)


def _charset(content_type: str | None) -> str:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip("\"' ")
    return "utf-8"


def _text_of(body: bytes, content_type: str | None, content_encoding: str | None) -> str:
    """The document as text, its coding undone within the budget."""
    body = body[:MAX_DOCUMENT_BYTES]
    undone = undo_content_encoding(body, content_encoding, Budget(_LIMITS))
    data = undone[0].data[:MAX_DOCUMENT_BYTES] if undone else body
    try:
        return data.decode(_charset(content_type), "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def _in_code(text: str) -> list[tuple[int, int]]:
    """Spans of the body inside scripts, styles and templates, found in one linear pass."""
    spans, opened = [], -1
    for match in _SCRIPT.finditer(text):
        if not match.group(1) and opened < 0:
            opened = match.start()
        elif match.group(1) and opened >= 0:
            spans.append((opened, match.end()))
            opened = -1
    if opened >= 0:
        spans.append((opened, len(text)))
    return spans


def _read_headings(reader: _Reader, body: str, deadline: float) -> None:
    """Feed the reader only the body's h1/h2 elements: parsing the whole body costs too much.

    Each heading is read up to :data:`_HEADING_CHARS` characters on from its
    start tag; one inside a script, style or template is not a heading.
    """
    code = _in_code(body)
    lowered = body.lower()
    for match in _HEADING.finditer(body):
        if len(reader.headings) >= MAX_HEADINGS or time.perf_counter() > deadline:
            return
        start = match.start()
        if any(begin <= start < end for begin, end in code):
            continue
        end = lowered.find(f"</h{match.group(1)}", start, start + _HEADING_CHARS)
        if end < 0:
            continue
        reader.feed(body[start:end] + f"</h{match.group(1)}>")
        reader.reset_element()


def read_document(
    body: bytes, content_type: str | None = None, content_encoding: str | None = None
) -> PageText:
    """The title, description and headings of an HTML document (empty when unreadable).

    The head is parsed whole (the title and meta description are there); of
    the body only the headings are, which keeps a large page to a few
    milliseconds.
    """
    reader = _Reader()
    deadline = time.perf_counter() + DOCUMENT_SECONDS
    try:
        text = _text_of(body, content_type, content_encoding)
        split = _BODY.search(text)
        head, rest = (text[: split.start()], text[split.start() :]) if split else (text, "")
        for start in range(0, len(head), _FEED):
            reader.feed(head[start : start + _FEED])
            if time.perf_counter() > deadline:
                return _result(reader)
        reader.reset_element()
        _read_headings(reader, rest, deadline)
    except Exception:  # noqa: BLE001 - hostile HTML: keep what was read before it
        pass
    return _result(reader)


def _result(reader: _Reader) -> PageText:
    return PageText(reader.title, reader.description, tuple(reader.headings))
