"""Bounded decompression: gzip, zlib, raw deflate, brotli and zstd.

Every decompressor is incremental and asked for at most the output the
budget allows, so a compression bomb costs at most that much memory and
time.  Trackers rarely say what they compressed (Clarity and PostHog send
raw gzip as ``text/plain``), so formats are recognised by their magic bytes;
raw deflate and brotli have none and are only tried on bodies that are not
text.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import zstandard

from phitrace.decode.budget import Budget

try:  # brotlicffi 1.2 can cap the output of one call; the brotli module cannot.
    import brotlicffi
except ImportError:  # pragma: no cover - brotlicffi is a declared dependency
    brotlicffi = None

CHUNK = 64 * 1024
"""Output asked of a decompressor per step, between deadline checks."""

ZSTD_MAX_WINDOW = 1 << 23
"""Largest zstd window accepted: a frame cannot make us allocate more."""

ZSTD_READ = 4096
"""Compressed bytes a zstd reader takes at a time."""

GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class Inflated:
    """The output of one decompression: ``complete`` unless cut or corrupt."""

    data: bytes
    complete: bool


def _is_zlib(head: bytes) -> bool:
    """A zlib header: deflate method, window at most 32 KiB, check bits valid."""
    if len(head) < 2:
        return False
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and ((cmf << 8) | flg) % 31 == 0


def sniff(data: bytes) -> str | None:
    """Name the compression a blob starts with (gzip, zstd, zlib), or None."""
    if data[:3] == GZIP_MAGIC:
        return "gzip"
    if data[:4] == ZSTD_MAGIC:
        return "zstd"
    if _is_zlib(data):
        return "zlib"
    return None


RATIO_SLACK = 1024 * 1024
"""Output a stream may produce before its ratio so far is checked (see :func:`_bomb`)."""


def _bomb(produced: int, consumed: int, budget: Budget) -> bool:
    """True when a stream has already produced more than the ratio allows for what it read.

    The ratio limit on the whole input lets a 1 MB gzip bomb expand to the
    request's whole budget; checked as the input is read, it stops within
    about a megabyte, while real payloads never come near the ratio.
    """
    return produced > RATIO_SLACK and produced > budget.limits.max_ratio * max(consumed, 1)


def _ratio_reason(budget: Budget) -> str:
    return f"decompression ratio over {budget.limits.max_ratio:g}"


def _inflate(data: bytes, wbits: int, budget: Budget) -> Inflated | None:
    room, reason = budget.room(len(data))
    out: list[bytes] = []
    size = 0
    complete = False
    pending = data
    try:
        while pending:
            stream = zlib.decompressobj(wbits)
            while not stream.eof:
                budget.tick()
                if size >= room or _bomb(size, len(data) - len(pending), budget):
                    budget.note(reason if size >= room else _ratio_reason(budget))
                    return Inflated(b"".join(out), False)
                piece = stream.decompress(pending, min(CHUNK, room - size))
                pending = stream.unconsumed_tail
                out.append(piece)
                size += len(piece)
                budget.spend(len(piece))
                if not piece:
                    break
            complete = stream.eof
            pending = stream.unused_data
            # Only gzip has several members; anything else after the end is ignored.
            if not complete or wbits != 31 or pending[:3] != GZIP_MAGIC:
                break
    except zlib.error:
        if not out:
            return None
        complete = False
    return Inflated(b"".join(out), complete)


def _zstd(data: bytes, budget: Budget) -> Inflated | None:
    room, reason = budget.room(len(data))
    out: list[bytes] = []
    size = 0
    try:
        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        source = io.BytesIO(data)  # read in small steps, so the ratio so far can be checked
        with decompressor.stream_reader(
            source, read_size=ZSTD_READ, read_across_frames=True
        ) as reader:
            while True:
                budget.tick()
                if size >= room or _bomb(size, source.tell(), budget):
                    budget.note(reason if size >= room else _ratio_reason(budget))
                    return Inflated(b"".join(out), False)
                piece = reader.read(min(CHUNK, room - size))
                if not piece:
                    break
                out.append(piece)
                size += len(piece)
                budget.spend(len(piece))
    except zstandard.ZstdError:
        if not out:
            return None
        return Inflated(b"".join(out), False)
    return Inflated(b"".join(out), True)


def _brotli(data: bytes, budget: Budget) -> Inflated | None:
    if brotlicffi is None:  # pragma: no cover - see the import
        return None
    room, reason = budget.room(len(data))
    out: list[bytes] = []
    size = 0
    decompressor = brotlicffi.Decompressor()
    try:
        piece = decompressor.process(data, output_buffer_limit=min(CHUNK, room))
        while True:
            out.append(piece)
            size += len(piece)
            budget.spend(len(piece))
            if decompressor.is_finished() or decompressor.can_accept_more_data():
                break
            budget.tick()
            if size >= room:
                budget.note(reason)
                return Inflated(b"".join(out), False)
            piece = decompressor.process(b"", output_buffer_limit=min(CHUNK, room - size))
    except brotlicffi.error:
        if not out:
            return None
        return Inflated(b"".join(out), False)
    return Inflated(b"".join(out), decompressor.is_finished())


DECOMPRESSORS: dict[str, Callable[[bytes, Budget], Inflated | None]] = {
    "gzip": lambda data, budget: _inflate(data, 31, budget),
    "zlib": lambda data, budget: _inflate(data, 15, budget),
    "deflate": lambda data, budget: _inflate(data, -15, budget),
    "brotli": _brotli,
    "zstd": _zstd,
}
"""Decompressor per trail name; each returns None when the data is not that format."""

HEADERLESS = ("deflate", "brotli")
"""Formats without magic bytes, tried on binary bodies that nothing else explains."""

CONTENT_ENCODINGS = {
    "gzip": "gzip",
    "x-gzip": "gzip",
    "deflate": "zlib",
    "br": "brotli",
    "zstd": "zstd",
}
"""``Content-Encoding`` tokens and the decompressor they name."""

MAX_CODINGS = 4
"""Content codings undone for one body; a longer list is not a real client's."""


def content_codings(header: str | None) -> tuple[str, ...] | None:
    """Decompressors for a ``Content-Encoding`` header, in the order to apply them.

    Codings are listed in the order they were applied (``gzip, br`` is brotli
    over gzip), so they are undone last first; ``identity`` is nothing to undo.
    None when there is nothing to undo, or a coding is unknown or one too many.
    """
    tokens = [t.strip().lower() for t in (header or "").split(",")]
    names = [CONTENT_ENCODINGS.get(t) for t in tokens if t and t != "identity"]
    if not names or len(names) > MAX_CODINGS or None in names:
        return None
    return tuple(n for n in reversed(names) if n is not None)


def _layer(name: str, data: bytes, budget: Budget) -> tuple[str, Inflated | None]:
    """One coding undone; ``deflate`` is zlib by the standard, raw deflate in practice too."""
    out = decompress(name, data, budget)
    if out is None and name == "zlib":
        return "deflate", decompress("deflate", data, budget)
    return name, out


def undo_content_encoding(
    body: bytes, header: str | None, budget: Budget
) -> tuple[Inflated, tuple[str, ...]] | None:
    """The body with its ``Content-Encoding`` undone within the budget, and the trail.

    None when the header names nothing to undo or the body is not what it
    says (a HAR file holds bodies already decoded, with the header kept).
    A layer cut by a limit still yields what came out of it, incomplete.
    """
    names = content_codings(header)
    if names is None:
        return None
    data, trail, complete = body, [], True
    for wanted in names:
        name, out = _layer(wanted, data, budget)
        if out is None:
            return None
        data, complete = out.data, complete and out.complete
        trail.append(name)
        if not data:
            break
    return Inflated(data, complete), tuple(trail)


def decompress(name: str, data: bytes, budget: Budget) -> Inflated | None:
    """Decompress ``data`` as ``name`` within the budget; None if it is not that format.

    With the request's budget already spent, nothing is decompressed: the
    result is empty and incomplete, and the limit is noted.
    """
    room, reason = budget.room(len(data))
    if room <= 0:
        budget.note(reason)
        return Inflated(b"", False)
    return DECOMPRESSORS[name](data, budget)
