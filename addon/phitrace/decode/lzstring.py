"""The lz-string format: an LZW variant packed into printable characters.

Older PostHog SDKs (``compression=lz64``) and many scripts that squeeze data
into ``localStorage`` or URLs use it.  The coder keeps a dictionary of
phrases; each output code is an index into it, written least-significant bit
first with a width that grows as the dictionary does.  Codes 0 and 1 bring in
a new 8-bit or 16-bit character, code 2 ends the stream.  The bit stream is
then cut into 6-bit groups (base64 and URI-safe alphabets) or 15-bit groups
(the UTF-16 variant, offset by 32 to stay printable, plus a final space).

Characters are UTF-16 code units, as in JavaScript, so text outside the
Basic Multilingual Plane travels as surrogate pairs.
"""

from __future__ import annotations

from collections.abc import Callable

BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
URI_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-"
_BASE64_BITS = {c: format(i, "06b") for i, c in enumerate(BASE64_ALPHABET)}
_URI_BITS = {c: format(i, "06b") for i, c in enumerate(URI_ALPHABET)}

MAX_INPUT_CHARS = 1024 * 1024
"""Longer inputs are not tried."""

_FIRST_CHUNK_CHARS = 8
_MAX_CHUNK_CHARS = 1024

Check = Callable[[int], bool]
"""Called with the output length so far; returns False to stop decoding."""


def _units(text: str) -> str:
    """``text`` as UTF-16 code units, one Python character per unit."""
    raw = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(raw[i] | raw[i + 1] << 8) for i in range(0, len(raw), 2))


def _from_units(units: str) -> str | None:
    try:
        return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return None


class _Compressor:
    """Builds the code stream: a phrase dictionary and a code width that grows with it."""

    def __init__(self) -> None:
        self.bits: list[str] = []
        self.codes: dict[str, int] = {}
        self.fresh: set[str] = set()
        self.width = 2
        self.until_wider = 2

    def write(self, value: int, width: int) -> None:
        # Codes go out least-significant bit first.
        self.bits.append(format(value, f"0{width}b")[::-1])

    def grow(self) -> None:
        self.until_wider -= 1
        if self.until_wider == 0:
            self.until_wider = 1 << self.width
            self.width += 1

    def emit(self, phrase: str) -> None:
        """Write a phrase's code, bringing its character in first if it is new."""
        if phrase in self.fresh:
            code = ord(phrase)
            wide = code > 255
            self.write(1 if wide else 0, self.width)
            self.write(code, 16 if wide else 8)
            self.grow()
            self.fresh.discard(phrase)
        else:
            self.write(self.codes[phrase], self.width)
        self.grow()

    def learn(self, phrase: str) -> None:
        self.codes[phrase] = len(self.codes) + 3  # codes 0-2 are reserved

    def groups(self, width: int) -> list[int]:
        stream = "".join(self.bits)
        # The stream always ends with at least one zero bit of padding.
        stream += "0" * (width - len(stream) % width)
        return [int(stream[i : i + width], 2) for i in range(0, len(stream), width)]


def _compress(text: str, width: int) -> list[int]:
    """Compress ``text`` into ``width``-bit groups."""
    out = _Compressor()
    phrase = ""
    for char in _units(text):
        if char not in out.codes:
            out.learn(char)
            out.fresh.add(char)
        joined = phrase + char
        if joined in out.codes:
            phrase = joined
            continue
        out.emit(phrase)
        out.learn(joined)
        phrase = char
    if phrase:
        out.emit(phrase)
    out.write(2, out.width)
    return out.groups(width)


class _Bits:
    """The bit stream of an encoded text, converted a chunk at a time.

    Random text that is not lz-string fails within a few codes, so only the
    start of it is ever converted.
    """

    def __init__(
        self, text: str, to_bits: Callable[[str], str | None], per_char: int, tail: int = 1
    ) -> None:
        self.text = text
        self.to_bits = to_bits
        self.slack = per_char * tail
        """Bits that may follow the end code: padding, and the UTF-16 variant's final space."""
        self.total = len(text) * per_char
        self.consumed = 0
        self.valid = True
        self._next = 0
        self._chunk = _FIRST_CHUNK_CHARS
        self._buf = ""
        self._pos = 0

    def read(self, width: int) -> int:
        if self._pos + width > len(self._buf):
            self._fill(width)
        chunk = self._buf[self._pos : self._pos + width]
        self._pos += width
        self.consumed += width
        # Codes are stored least-significant bit first.
        return int(chunk[::-1], 2) if chunk else 0

    def _fill(self, width: int) -> None:
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < width and self._next < len(self.text):
            bits = self.to_bits(self.text[self._next : self._next + self._chunk])
            self._next += self._chunk
            self._chunk = min(self._chunk * 2, _MAX_CHUNK_CHARS)
            if bits is None:
                self.valid = False
                break
            parts.append(bits)
            have += len(bits)
        self._buf = "".join(parts)
        self._pos = 0


def _decompress(bits: _Bits, check: Check | None, printable_start: bool) -> str | None:
    """Decode an lz-string bit stream; None when it is not one.

    With ``printable_start``, only text whose first character is a printable
    8-bit one is accepted, which rejects most random input after ten bits.
    """
    kind = bits.read(2)
    if kind == 2:
        return ""
    if kind == 3 or (printable_start and kind != 0):
        return None
    phrase = chr(bits.read(8 if kind == 0 else 16))
    if printable_start and not (phrase.isprintable() or phrase in "\t\n\r"):
        return None
    phrases = ["", "", "", phrase]
    out = [phrase]
    size = 1
    width = 3
    until = 4
    while True:
        if bits.consumed >= bits.total or not bits.valid:
            return None
        code = bits.read(width)
        if code == 2:
            # Real output ends here, bar the zero bits that fill its last character.
            if not bits.valid or bits.total - bits.consumed > bits.slack:
                return None
            return _from_units("".join(out))
        if code < 2:
            phrases.append(chr(bits.read(8 if code == 0 else 16)))
            code = len(phrases) - 1
            until -= 1
            if until == 0:
                until = 1 << width
                width += 1
        if code < len(phrases):
            entry = phrases[code]
        elif code == len(phrases):
            entry = phrase + phrase[0]
        else:
            return None
        out.append(entry)
        size += len(entry)
        if check is not None and not check(size):
            return _from_units("".join(out))
        phrases.append(phrase + entry[0])
        until -= 1
        if until == 0:
            until = 1 << width
            width += 1
        phrase = entry


def compress_to_base64(text: str) -> str:
    """lz-string's ``compressToBase64``: base64 alphabet, padded with ``=``."""
    out = "".join(BASE64_ALPHABET[v] for v in _compress(text, 6))
    return out + "=" * (-len(out) % 4)


def compress_to_uri(text: str) -> str:
    """lz-string's ``compressToEncodedURIComponent``: safe in URLs unescaped."""
    return "".join(URI_ALPHABET[v] for v in _compress(text, 6))


def compress_to_utf16(text: str) -> str:
    """lz-string's ``compressToUTF16``: 15 bits per character, plus a final space."""
    return "".join(chr(v + 32) for v in _compress(text, 15)) + " "


def _six_bits(table: dict[str, str]) -> Callable[[str], str | None]:
    def convert(chunk: str) -> str | None:
        try:
            return "".join([table[c] for c in chunk])
        except KeyError:
            return None

    return convert


_from_base64 = _six_bits(_BASE64_BITS)
_from_uri = _six_bits(_URI_BITS)


def _from_utf16(chunk: str) -> str | None:
    values = [ord(c) - 32 for c in chunk]
    if min(values) < 0 or max(values) >= 1 << 15:
        return None
    return "".join([format(v, "015b") for v in values])


def decompress_from_base64(
    text: str, check: Check | None = None, *, printable_start: bool = False
) -> str | None:
    """Decode lz-string base64 output; None when ``text`` is not that."""
    text = text.rstrip("=")
    if not text or len(text) > MAX_INPUT_CHARS:
        return None
    return _decompress(_Bits(text, _from_base64, 6), check, printable_start)


def decompress_from_uri(
    text: str, check: Check | None = None, *, printable_start: bool = False
) -> str | None:
    """Decode lz-string URI-safe output (``+`` may have become a space); None if not that."""
    if not text or len(text) > MAX_INPUT_CHARS:
        return None
    return _decompress(_Bits(text.replace(" ", "+"), _from_uri, 6), check, printable_start)


def decompress_from_utf16(
    text: str, check: Check | None = None, *, printable_start: bool = False
) -> str | None:
    """Decode lz-string UTF-16 output; None when ``text`` is not that."""
    if not text or len(text) > MAX_INPUT_CHARS:
        return None
    return _decompress(_Bits(text, _from_utf16, 15, tail=2), check, printable_start)


def looks_utf16(text: str) -> bool:
    """True when ``text`` is mostly characters the UTF-16 variant produces."""
    if len(text) < 4 or not text.endswith(" "):
        return False
    wide = sum(1 for c in text if 0x80 <= ord(c) <= 0x801F)
    return wide * 2 >= len(text) and all(32 <= ord(c) <= 0x801F for c in text)
