"""Text encodings found inside values: percent, base64, hex and JWT.

Tracker payloads are full of random identifiers that happen to be valid
base64 or hex, so a decoding only counts when its result is plausible: text
without control characters, JSON, or compressed data.  The alphabet tests
run first; they delete the alphabet's bytes with ``bytes.translate``, which
costs about a nanosecond a byte even for megabyte-sized values.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import unquote

from phitrace.decode import compression

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
ALNUM_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
BASE64_BYTES = ALNUM_BYTES + b"+/"
BASE64URL_BYTES = ALNUM_BYTES + b"-_"
ENCODED_BYTES = ALNUM_BYTES + b"+/=-_"
"""Every character base64, base64url, hex and lz-string (base64 or URI-safe) use."""
HEX_BYTES = b"0123456789abcdefABCDEF"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_LETTER = re.compile(r"[A-Za-z]")
_URL_SAFE = str.maketrans("-_", "+/")

MAX_PERCENT_LAYERS = 3
"""Percent-encoding undone at most this many times over (double encoding is common)."""


def has_controls(text: str) -> bool:
    """True when ``text`` holds control characters other than tab and newlines."""
    return _CONTROL.search(text) is not None


def has_control_bytes(data: bytes) -> bool:
    """:func:`has_controls` for UTF-8 (or ASCII) bytes, without decoding them."""
    return len(data.translate(None, _CONTROL_BYTES)) != len(data)


def ascii_bytes(text: str) -> bytes | None:
    """``text`` as bytes when it is all ASCII (every encoding alphabet is), else None."""
    return text.encode("ascii") if text.isascii() else None


def only(raw: bytes, alphabet: bytes) -> bool:
    """True when every byte of ``raw`` is in ``alphabet``."""
    return not raw.translate(None, alphabet)


def readable(data: bytes) -> str | None:
    """``data`` as text when it is UTF-8 without control characters, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if has_controls(text) else text


def plausible_text(text: str) -> bool:
    """Text a person or a program might have written: no controls, some letters."""
    return bool(text) and not has_controls(text) and _LETTER.search(text) is not None


def unpercent(text: str, settled: Callable[[str], bool] | None = None) -> tuple[str, int]:
    """Undo percent-encoding (up to three layers); return the text and the layers undone.

    A layer is undone only when it decodes to valid UTF-8 without control
    characters, so a literal ``%`` in ordinary text is left alone.  Decoding
    stops early once ``settled(text)`` says the escapes left belong inside
    the text (a URL's own query, values inside JSON or a form).
    """
    layers = 0
    while layers < MAX_PERCENT_LAYERS and _PERCENT.search(text) is not None:
        if layers and settled is not None and settled(text):
            break
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            break
        if decoded == text or has_controls(decoded):
            break
        text = decoded
        layers += 1
    return text, layers


def base64_variant(text: str) -> str | None:
    """``base64`` or ``base64url`` when ``text`` is written in that alphabet, else None."""
    raw = ascii_bytes(text)
    if raw is None or len(raw) % 4 == 1:
        return None
    body = raw.rstrip(b"=")
    if len(raw) - len(body) > 2:
        return None
    if only(body, BASE64_BYTES):
        return "base64"
    if only(body, BASE64URL_BYTES):
        return "base64url"
    return None


def unbase64(text: str, variant: str) -> bytes | None:
    """Decode base64 (padding optional) or base64url; None when it is not valid."""
    if variant == "base64url":
        text = text.translate(_URL_SAFE)
    text = text.rstrip("=")
    text += "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


def is_hex(text: str) -> bool:
    """True for an even-length run of hex digits holding at least one letter."""
    raw = ascii_bytes(text)
    return (
        raw is not None
        and len(raw) % 2 == 0
        and bool(raw)
        and only(raw, HEX_BYTES)
        and not raw.isdigit()
    )


def unhex(text: str) -> bytes | None:
    """Decode hex digits; None when they are not."""
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def jwt_payload(text: str) -> bytes | None:
    """The decoded payload segment of a JSON Web Token, or None for anything else."""
    if not text.startswith("eyJ") or _JWT.fullmatch(text) is None:
        return None
    return unbase64(text.split(".", 2)[1], "base64url")


def worth_decoding(data: bytes) -> bool:
    """Whether bytes decoded from a value look like text, JSON or compressed data.

    Random identifiers decode to bytes that are neither, which is how most
    false base64 and hex matches are dropped without further work.
    """
    if not data:
        return False
    if data[:1] in (b"{", b"[") or compression.sniff(data) is not None:
        return True
    text = readable(data)  # non-empty and free of control characters when not None
    return text is not None and _LETTER.search(text) is not None


def unreversed_base64(text: str) -> bytes | None:
    """The bytes of base64 written backwards, as some scripts hide their payload; else None.

    Base64 of a JSON object starts ``eyJ``, so reversed it ends ``Jye``: the
    cheap check that spares every other value a second base64 attempt.
    """
    if not text.rstrip("=").endswith("Jye"):
        return None
    backwards = text[::-1]
    variant = base64_variant(backwards)
    return unbase64(backwards, variant) if variant is not None else None


def embedded_base64(text: str, *, url: bool = False) -> list[str]:
    """The base64 characters that encode ``text`` wherever it sits in a longer input.

    Base64 encodes three bytes as four characters, so a value inside a
    larger encoded document (a JSON payload, say) comes out in one of three
    alignments; only the characters fully determined by the value's own
    bytes are kept.
    """
    data = text.encode()
    out = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + data).decode().rstrip("=")
        start = -(-8 * shift // 6)
        end = (8 * (shift + len(data))) // 6
        piece = encoded[start:end]
        if url:
            piece = piece.replace("+", "-").replace("/", "_")
        out.append(piece)
    return out
