"""Readable text inside bytes nothing else could decode: printable runs and UTF-8 strings.

A session-replay batch or an unknown binary framing still carries the page
URL, a user id or metadata as plain strings between binary lengths.  These
scans are bounded by the caller's limit on the bytes read and by a cap on the
number of runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

STRING_RUN_CHARS = 8
"""Shortest printable run of a binary blob read as a string of its own."""

BINARY_RUNS_MAX = 200
"""Printable runs kept from a binary blob that nothing could decode."""

_PRINTABLE_RUN = re.compile(rb"[\x20-\x7e\t]{6,}")
_UTF8_RUN = re.compile(rb"(?:[\x20-\x7e]|[\xc2-\xf4][\x80-\xbf]{1,3}){8,}")
_URL_START = ("http://", "https://")


def printable_runs(data: bytes, limit: int) -> str:
    """The ASCII runs of the first ``limit`` bytes, one per line ("" when there are none)."""
    runs = _PRINTABLE_RUN.findall(data, 0, limit)
    return "\n".join(r.decode("ascii") for r in runs[:BINARY_RUNS_MAX])


def utf8_strings(data: bytes, limit: int) -> Iterator[tuple[int, str]]:
    """(index, text) of each run of printable UTF-8 in the first ``limit`` bytes.

    A string's length byte, when printable, runs into the text before a URL:
    it is cut off, so the URL reads as one.
    """
    found = _UTF8_RUN.finditer(data, 0, limit)
    for index, run in enumerate(islice(found, BINARY_RUNS_MAX)):
        text = run.group().decode("utf-8", "replace").strip()
        start = text.find("http", 1, 7)
        if start > 0 and text.startswith(_URL_START, start):
            text = text[start:]
        if len(text) >= STRING_RUN_CHARS:
            yield index, text
