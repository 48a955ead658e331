"""The decoded text of a stored request body, labelled apart from its wire bytes.

The store keeps a body as it was sent, so its length and SHA-256 are the
wire's.  When the request says ``Content-Encoding: gzip`` (or another coding)
those bytes are not readable, so evidence and reports add what they decode
to, within the decoders' limits, always marked as decoded and never in place
of the wire bytes: a digest of the decoded text proves nothing about what
went over the network.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from phitrace.decode.budget import DEFAULT_LIMITS, Budget, Limits
from phitrace.decode.compression import undo_content_encoding
from phitrace.store.reader import RawRequest

WIRE_LABEL = "wire bytes: the body as sent, still Content-Encoding-encoded"
DECODED_LABEL = "decoded by phitrace from the wire bytes; not what was sent"


@dataclass(frozen=True)
class DecodedBody:
    """A body with its ``Content-Encoding`` undone, and how it was undone.

    ``trail`` names the decompressors in the order they ran; ``complete`` is
    false when a limit or a cut stored body stopped decoding early.
    """

    data: bytes
    content_encoding: str
    trail: tuple[str, ...]
    complete: bool

    @property
    def text(self) -> str | None:
        """The decoded bytes as UTF-8 text, or None when they are not text."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def as_json(self) -> dict[str, Any]:
        """The decoded body as evidence carries it: label, trail, size, digest and content."""
        document: dict[str, Any] = {
            "label": DECODED_LABEL,
            "content_encoding": self.content_encoding,
            "trail": list(self.trail),
            "complete": self.complete,
            "bytes": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }
        text = self.text
        if text is None:
            document["encoding"] = "base64"
            text = base64.b64encode(self.data).decode("ascii")
        document["text"] = text
        return document


def content_encoding(raw: RawRequest) -> str | None:
    """The stored request's first ``Content-Encoding`` header, or None."""
    return next((v for k, v in raw.headers if k.lower() == "content-encoding"), None)


def decoded_body(raw: RawRequest, limits: Limits = DEFAULT_LIMITS) -> DecodedBody | None:
    """The stored body with its ``Content-Encoding`` undone, or None if there is none to undo.

    None too when the bytes are not what the header says (a HAR holds bodies
    already decoded, header kept): then the wire bytes are the readable text.
    """
    header = content_encoding(raw)
    if not raw.body or header is None:
        return None
    body = raw.body[: limits.max_body_bytes]
    undone = undo_content_encoding(body, header, Budget(limits))
    if undone is None:
        return None
    inflated, trail = undone
    complete = inflated.complete and len(body) == len(raw.body)
    return DecodedBody(inflated.data, header, trail, complete)


RAW_LIMIT = 16 * 1024
"""Bytes of a raw request body shown in the HTML report."""


def _body_text(body: bytes, limit: int) -> str:
    try:
        text = body[:limit].decode("utf-8")
    except UnicodeDecodeError:
        text = f"[binary, base64]\n{base64.b64encode(body[:limit]).decode('ascii')}"
    if len(body) > limit:
        text += f"\n[… {len(body) - limit} more bytes not shown]"
    return text


def raw_text(method: str, url: str, raw: RawRequest, limit: int = RAW_LIMIT) -> str:
    """A stored request as readable text: request line, headers, body (bounded).

    A body sent with a ``Content-Encoding`` is shown twice, each labelled: the
    wire bytes that were stored and hashed, then what phitrace decoded them to.
    """
    lines = [f"{method} {url}", *(f"{k}: {v}" for k, v in raw.headers), ""]
    decoded = decoded_body(raw)
    if decoded is None:
        return "\n".join(lines) + "\n" + _body_text(raw.body, limit)
    trail = " → ".join(decoded.trail)
    cut = "" if decoded.complete else ", incomplete"
    return "\n".join(lines) + (
        f"\n[{WIRE_LABEL}; {len(raw.body)} bytes]\n{_body_text(raw.body, limit)}"
        f"\n\n[{DECODED_LABEL} ({trail}{cut}); {len(decoded.data)} bytes]\n"
        + _body_text(decoded.data, limit)
    )
