"""Choose decoders by looking at the data, and recurse into every decoded value.

:class:`Decoder` turns bytes or text into fields.  A blob is tried, in order,
as compressed data (by magic bytes), a multipart body, a Sentry envelope,
text (JSON, JSONP, newline batches, forms) and finally as binary (protobuf,
headerless deflate or brotli, printable runs); multipart bodies and Sentry
envelopes are taken apart by :mod:`phitrace.decode.containers`.  Every string value found on
the way is expanded again: percent-encoding, embedded JSON, nested forms,
JWTs, hex, base64 and lz-string, each only when its result is plausible.

Each decoder applied is appended to the field's trail, and the trail's length
is the recursion depth, so ``max_depth`` bounds the recursion.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from phitrace.decode import (
    barren,
    binary,
    compression,
    containers,
    envelopes,
    lzstring,
    protobuf,
    textcodecs,
)
from phitrace.decode.budget import Budget, Limits
from phitrace.decode.textcodecs import (
    ascii_bytes,
    base64_variant,
    has_control_bytes,
    is_hex,
    jwt_payload,
    plausible_text,
    unbase64,
    unhex,
    unpercent,
    worth_decoding,
)

Trail = tuple[str, ...]

_LZ_URI_BYTES = textcodecs.ALNUM_BYTES + b"+-"
_URL_START = ("http://", "https://")

BATCH_SAMPLE_LINES = 64
"""Lines read to tell NDJSON from form-encoded hits."""


def _short_candidate(text: str) -> bool:
    """Whether a value too short to be base64 might still hold structure or a JWT.

    Most values are short tokens; this keeps them away from every decoder.
    """
    return (
        text[0] in "{[ \t\r\n"
        or text[-1] in ");"
        or "&" in text
        or "\n" in text
        or text.startswith("eyJ")
        or text.startswith(envelopes.XSSI_PREFIXES)
    )


def _percent_settled(text: str) -> bool:
    """Whether percent-escapes left in ``text`` belong inside it rather than encode it.

    In a URL they are its syntax; in JSON or form data they belong to the
    values inside, which are decoded one by one.
    """
    return (
        text.startswith(_URL_START)
        or envelopes.looks_like_json(text)
        or envelopes.looks_like_nested_form(text)
    )


def _mixed_case(text: str) -> bool:
    return text.lower() != text and text.upper() != text


def _mostly_latin(text: str) -> bool:
    """True when at least four in five characters come before U+0800 (Latin, Greek, ...)."""
    return sum(1 for c in text if c < "\u0800") * 5 >= len(text) * 4


class Decoder:
    """Decodes the parts of one request (or message) within one :class:`Budget`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.budget = Budget(limits)
        self._nesting = 0
        self._add = self.budget.add  # read once per decode: value() runs once per field
        self._min_encoded = limits.min_encoded_chars

    # -- bookkeeping ---------------------------------------------------------------------------

    def deeper(self, trail: Trail) -> bool:
        """True when one more decoder may be stacked on ``trail``; notes the limit if not."""
        if len(trail) < self.limits.max_depth:
            return True
        self.budget.note(f"decoders nested deeper than {self.limits.max_depth}")
        return False

    # -- values --------------------------------------------------------------------------------

    def value(self, path: str, text: str, trail: Trail) -> None:
        """Record a string value, then decode whatever it holds."""
        if "%" in text and not _percent_settled(text):
            decoded, layers = unpercent(text, _percent_settled)
            if layers and len(trail) + layers <= self.limits.max_depth:
                text, trail = decoded, trail + ("percent",) * layers
        self._add(path, text, trail)
        size = len(text)
        if size >= self._min_encoded or (size > 1 and _short_candidate(text)):
            self.expand(path, text, trail)

    def expand(self, path: str, text: str, trail: Trail) -> None:
        """Decode structure or an encoding inside a value already recorded at ``path``."""
        if len(text) < 2:
            return
        key = (text, len(trail), self._nesting)
        if barren.known(key, self.limits):
            return
        before = barren.spent(self.budget)
        self._expand(path, text, trail)
        if barren.spent(self.budget) == before:
            barren.remember(key, self.limits)

    def _expand(self, path: str, text: str, trail: Trail) -> None:
        if _short_candidate(text) or "=" in text:
            if self.structured(text, path, trail, top=False):
                return
        size = len(text)
        if text.startswith("eyJ") and size >= 8 and text.count(".") == 2:
            payload = jwt_payload(text)
            if payload is not None and worth_decoding(payload):
                self._decoded(payload, path, trail, "jwt")
                return
        if size < self.limits.min_encoded_chars and not text.startswith("eyJ"):
            return
        raw = ascii_bytes(text)
        if raw is None or not textcodecs.only(raw, textcodecs.ENCODED_BYTES):
            if " " in text:
                self._spaced(path, text, trail)
            return
        if is_hex(text):
            data = unhex(text)
            if data is not None and worth_decoding(data):
                self._decoded(data, path, trail, "hex")
                return
        if not _mixed_case(text):
            # Base64 and lz-string of text mix cases; hex IDs and UUIDs do not.
            return
        variant = base64_variant(text)
        if variant is not None:
            data = unbase64(text, variant)
            if data is not None and worth_decoding(data):
                self._decoded(data, path, trail, variant)
                return
        reversed_data = textcodecs.unreversed_base64(text)
        if reversed_data is not None and worth_decoding(reversed_data):
            self._decoded(reversed_data, path, trail, "reversed-base64")
            return
        self._lzstring(path, text, trail)

    def _spaced(self, path: str, text: str, trail: Trail) -> None:
        """Values with spaces: lz-string UTF-16, or base64 or lz-string whose ``+`` became a space.

        Form decoding reads ``+`` as a space, and trackers put such values in URLs unescaped.
        """
        if lzstring.looks_utf16(text):
            self._lz_result(lzstring.decompress_from_utf16, text, path, trail)
            return
        # In base64 about one character in 64 is a "+"; in prose one in six is a space.
        if text.count(" ") * 16 > len(text) or not _mixed_case(text):
            return
        candidate = text.replace(" ", "+")
        if not candidate.isascii():
            return
        if base64_variant(candidate) == "base64":
            data = unbase64(candidate, "base64")
            if data is not None and worth_decoding(data):
                self._decoded(data, path, trail, "base64")
                return
        # lz-string's URI-safe alphabet has both "+" and "-", so it is not base64.
        self._lzstring(path, candidate, trail)

    def _decoded(self, data: bytes, path: str, trail: Trail, name: str) -> None:
        if self.deeper(trail):
            self.blob(data, path, trail + (name,), top=False)

    def _lzstring(self, path: str, text: str, trail: Trail) -> None:
        # Text starting with an 8-bit character opens with two zero bits: "A" to "P".
        if not "A" <= text[0] <= "P":
            return
        raw = ascii_bytes(text)
        if raw is None:
            return
        if textcodecs.only(raw.rstrip(b"="), textcodecs.BASE64_BYTES):
            if self._lz_result(lzstring.decompress_from_base64, text, path, trail):
                return
        if textcodecs.only(raw, _LZ_URI_BYTES):
            self._lz_result(lzstring.decompress_from_uri, text, path, trail)

    def _lz_result(self, decompress: Any, text: str, path: str, trail: Trail) -> bool:
        budget = self.budget

        allowed: list[tuple[int, str]] = []

        def check(size: int) -> bool:
            budget.tick()
            if not allowed:
                allowed.append(budget.room(len(text)))
            room, reason = allowed[0]
            if size <= room:
                return True
            budget.note(reason)
            return False

        result = decompress(text, check, printable_start=True)
        if not result or len(result) < 2:
            return False
        budget.spend(len(result))
        if not (plausible_text(result) and _mostly_latin(result)):
            return False
        if self.deeper(trail):
            self.text(result, path, trail + ("lz-string",))
        return True

    # -- structure -----------------------------------------------------------------------------

    def walk(self, node: Any, path: str, trail: Trail) -> None:
        """Record every leaf of a parsed JSON document, in document order."""
        if isinstance(node, (dict, list)):
            # Nesting is counted across documents embedded in one another, so
            # the Python stack stays shallow whatever the payload.
            if self._nesting >= self.limits.max_nesting:
                self.budget.note(f"structure nested deeper than {self.limits.max_nesting}")
                return
            self._nesting += 1
            try:
                if isinstance(node, dict):
                    for key, child in node.items():
                        here = f"{path}.{key}" if path else str(key)
                        if isinstance(child, str):
                            self.value(here, child, trail)
                        else:
                            self.walk(child, here, trail)
                else:
                    for index, child in enumerate(node):
                        if isinstance(child, str):
                            self.value(f"{path}[{index}]", child, trail)
                        else:
                            self.walk(child, f"{path}[{index}]", trail)
            finally:
                self._nesting -= 1
        elif node is not None and not isinstance(node, bool):
            self.budget.add(path, str(node), trail)

    def text(self, text: str, path: str, trail: Trail) -> None:
        """A decoded text: its structure if it has one, else the text itself as a value."""
        if not self.structured(text, path, trail, top=False):
            self.value(path, text, trail)

    def structured(self, text: str, path: str, trail: Trail, *, top: bool) -> bool:
        """Decode JSON, JSONP, newline batches or form data in ``text``; False if none fits."""
        first = text[:1]
        if first.isspace():
            text = text.strip()
            first = text[:1]
        if not first:
            return False
        last = text[-1]
        if first in "{[" and last in "}]":
            doc = envelopes.parse_json(text)
            if isinstance(doc, (dict, list)):
                if self.deeper(trail):
                    self.walk(doc, path, trail + ("json",))
                return True
        if last in ");" or text.startswith(envelopes.XSSI_PREFIXES):
            inner = envelopes.unwrap_jsonp(text)
            doc = envelopes.parse_json(inner) if inner is not None else None
            if isinstance(doc, (dict, list)):
                if self.deeper(trail):
                    self.walk(doc, path, trail + ("jsonp", "json"))
                return True
        if "\n" in text and self._batch(text, path, trail):
            return True
        if "=" in text and (
            envelopes.looks_like_form(text) if top else envelopes.looks_like_nested_form(text)
        ):
            # Text holding "=" always yields a pair, so this is form data.
            if self.deeper(trail):
                for key, val in envelopes.form_pairs(text):
                    self.value(f"{path}.{key}", val, trail + ("form",))
            return True
        return False

    def _batch(self, text: str, path: str, trail: Trail) -> bool:
        """NDJSON (a cut line tolerated) or one form-encoded hit per line.

        The kind is judged on the first lines, so a huge batch costs nothing
        beyond the lines the field and time limits let through.
        """
        sample = list(islice(envelopes.lines(text), BATCH_SAMPLE_LINES))
        if len(sample) < 2:
            return False
        jsonish = [envelopes.looks_like_json(row) for row in sample]
        if jsonish[0] and sum(jsonish) >= len(sample) - 1:
            if self.deeper(trail):
                for index, row in enumerate(envelopes.lines(text)):
                    self.budget.tick()
                    here = f"{path}.line[{index}]"
                    doc = envelopes.parse_json(row) if envelopes.looks_like_json(row) else None
                    if doc is None:
                        self.value(here, row, trail + ("ndjson",))
                    else:
                        self.walk(doc, here, trail + ("ndjson", "json"))
            return True
        if all(envelopes.looks_like_form(row) for row in sample):
            if self.deeper(trail):
                for index, row in enumerate(envelopes.lines(text)):
                    self.budget.tick()
                    for key, val in envelopes.form_pairs(row):
                        self.value(f"{path}.line[{index}].{key}", val, trail + ("lines", "form"))
            return True
        return False

    # -- blobs ---------------------------------------------------------------------------------

    def blob(self, data: bytes, path: str, trail: Trail, *, top: bool) -> None:
        """Decode bytes of unknown format: a body, a message, or a decoded value."""
        self.budget.tick()
        name = compression.sniff(data)
        if name is not None and self.decompressed(name, data, path, trail, top=top):
            return
        if data[:2] == b"--" and containers.multipart(self, data, path, trail):
            return
        if data[:1] == b"{" and b"\n" in data and containers.sentry(self, data, path, trail):
            return
        try:
            text: str | None = None if has_control_bytes(data) else data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None:
            self.binary(data, path, trail)
        elif not self.structured(text, path, trail, top=top):
            if top:
                self.budget.add(path, text, trail + ("text",))
                if len(text) > 1:
                    self.expand(path, text, trail)
            else:
                self.value(path, text, trail)

    def decompressed(self, name: str, data: bytes, path: str, trail: Trail, *, top: bool) -> bool:
        """Decompress ``data`` as ``name`` and decode the output; False if it is not ``name``."""
        if not self.deeper(trail):
            return True
        out = compression.decompress(name, data, self.budget)
        if out is None:
            return False
        if out.data:
            self.blob(out.data, path, trail + (name,), top=top)
        return True

    def binary(self, data: bytes, path: str, trail: Trail) -> None:
        """Bytes that are not text: protobuf, headerless deflate or brotli, else printable runs."""
        found = protobuf.strings(data, self.budget, self.limits.max_nesting)
        if found:
            if self.deeper(trail):
                for here, text in found:
                    self.value(f"{path}.{here}", text, trail + ("protobuf",))
            return
        if self.deeper(trail):
            for name in compression.HEADERLESS:
                out = compression.decompress(name, data, self.budget)
                if out is not None and out.complete and worth_decoding(out.data):
                    self.blob(out.data, path, trail + (name,), top=False)
                    return
        text = binary.printable_runs(data, self.limits.max_value_chars * 4)
        if text:
            self.budget.add(path, text, trail + ("binary",))
        self.strings(data, path, trail)

    def strings(self, data: bytes, path: str, trail: Trail) -> None:
        """Each run of printable UTF-8 in an undecodable blob as a value of its own.

        Length-prefixed string streams (a session-replay batch: page URL, user id,
        metadata) put each string whole between binary lengths; read one by one,
        a URL among them is read as a URL.  The scan is bounded like the runs above.
        """
        if not self.deeper(trail):
            return
        for index, text in binary.utf8_strings(data, self.limits.max_value_chars * 4):
            self.value(f"{path}.strings[{index}]", text, trail + ("strings",))
