"""Stream a JSON capture as parser events and build values from them with bounded nesting.

Values are built here from ijson's basic events rather than by ``ijson.items``,
whose prefix strings grow with depth and make a deeply nested file cost
memory quadratic in its nesting; counting containers keeps every value
bounded and lets a too-deep value be passed over at the cost of a counter.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, cast

import ijson

MAX_DEPTH = 100
"""Containers a value may nest (Chrome's async initiator stacks reach a few dozen)."""

BOM = b"\xef\xbb\xbf"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_CHUNK = 1 << 20

Event = tuple[str, Any]
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})

READ_ERRORS = (ijson.JSONError, OSError, EOFError, zlib.error, UnicodeDecodeError)
"""What reading a broken, truncated or unreadable capture raises (gzip's errors included)."""


class TooDeep(ValueError):
    """A value nests deeper than allowed; the stream has already been read past it."""


@contextmanager
def _decompressed(path: Path) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """Open a file, gzip or not: yields (raw file, decompressed stream)."""
    with path.open("rb") as raw:
        if raw.read(2) == b"\x1f\x8b":
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield raw, cast(IO[bytes], unzipped)
        else:
            raw.seek(0)
            yield raw, raw


def _skip_bom(handle: IO[bytes]) -> None:
    """Step over a UTF-8 byte order mark, which some tools write and JSON parsers refuse."""
    if handle.read(len(BOM)) != BOM:
        handle.seek(0)


def _has_surrogate_escapes(path: Path) -> bool:
    """True when the text holds ``\\uD800``-``\\uDFFF`` escapes (lone surrogates, usually).

    The C parser turns a lone surrogate escape into ``?``, pairs it with the
    next escape or refuses it, so such files go to the pure-Python parser,
    which keeps the surrogate as written.
    """
    tail = b""
    with _decompressed(path) as (_, handle):
        while chunk := handle.read(_CHUNK):
            if _SURROGATE_ESCAPE.search(tail + chunk):
                return True
            tail = chunk[-5:]
    return False


@contextmanager
def events(path: Path) -> Iterator[tuple[IO[bytes], Iterator[Event]]]:
    """Open a JSON file (gzip, BOM and lone surrogate escapes accepted) as parser events.

    Yields the raw file (for progress offsets) and the event stream.
    """
    backend = ijson.get_backend("python") if _has_surrogate_escapes(path) else ijson
    with _decompressed(path) as (raw, handle):
        _skip_bom(handle)
        yield raw, iter(backend.basic_parse(handle, use_float=True))


def one_line(exc: BaseException) -> str:
    """A parser's message on one line: yajl's pointer lines become the text near the error."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    head = lines[0].strip().rstrip(".")
    if len(lines) >= 3 and "^" in lines[2]:
        column = lines[2].index("^")
        near = lines[1][max(0, column - 24) : column + 16].strip()
        if near:
            head += f" near {near!r}"
    return head


def next_event(stream: Iterator[Event]) -> Event:
    """The next event; a stream that stops inside a value is a truncated file."""
    try:
        return next(stream)
    except StopIteration:
        raise EOFError("the file ends in the middle of a value") from None


def skip(stream: Iterator[Event], event: Event) -> None:
    """Read past the value that starts with ``event``, however deep: only a counter grows."""
    skip_rest(stream, 1 if event[0] in _OPEN else 0)


def skip_rest(stream: Iterator[Event], depth: int) -> None:
    """Read past the ends of ``depth`` containers that are already open."""
    while depth:
        kind = next_event(stream)[0]
        if kind in _OPEN:
            depth += 1
        elif kind in _CLOSE:
            depth -= 1


def build(stream: Iterator[Event], event: Event, limit: int = MAX_DEPTH) -> Any:
    """The value that starts with ``event``, nested at most ``limit`` containers deep.

    Raises :class:`TooDeep` after reading past a deeper value, so the caller
    can go on with the next one.
    """
    kind, scalar = event
    if kind not in _OPEN:
        return scalar
    root: Any = {} if kind == "start_map" else []
    stack: list[Any] = [root]
    keys: list[str] = [""]
    while stack:
        kind, scalar = next_event(stream)
        if kind == "map_key":
            keys[-1] = scalar
            continue
        if kind in _CLOSE:
            stack.pop()
            keys.pop()
            continue
        value: Any = scalar
        if kind in _OPEN:
            if len(stack) >= limit:
                skip_rest(stream, len(stack) + 1)
                raise TooDeep(f"nested more than {limit} levels deep")
            value = {} if kind == "start_map" else []
        top = stack[-1]
        if isinstance(top, list):
            top.append(value)
        else:
            top[keys[-1]] = value
        if kind in _OPEN:
            stack.append(value)
            keys.append("")
    return root
