"""Fuzzing each decoder on its own: hostile input in its format never escapes or overruns.

The pipeline fuzz (``test_fuzz_pipeline.py``) reaches a decoder only when the
sniffer picks it, so a rare format can get few inputs there.  Here every
Hypothesis example builds one hostile input per decoder, in that decoder's
format (compressed, encoded, framed), then damages it the way a network or an
attacker does (cut short, bytes flipped, NULs or invalid UTF-8 spliced in,
replaced by noise), and calls the decoder directly.  Each decoder therefore
sees ``PHITRACE_FUZZ_EXAMPLES`` inputs (10,000 in CI, 1,000 by default elsewhere),
counted and shown in the figures.

The only exception a decoder may raise is :class:`Stop`, the budget's way of
ending a decode; anything else escaping is a bug, and so is output beyond a
limit.  The bulk of each input comes from a drawn seed, which keeps 10,000
examples cheap and every failure reproducible.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import zlib
from collections import Counter
from collections.abc import Callable
from urllib.parse import quote

import brotlicffi
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.ci import fuzz_examples

from phitrace.decode import compression, envelopes, lzstring, protobuf, textcodecs
from phitrace.decode.budget import Budget, Limits, Stop
from phitrace.decode.request import decode_message

EXAMPLES = fuzz_examples()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Small enough that hostile inputs of a few kilobytes reach every limit.
LIMITS = Limits(
    max_body_bytes=8192,
    max_decompressed_bytes=32 * 1024,
    max_ratio=40.0,
    max_depth=4,
    max_nesting=8,
    max_fields=60,
    max_value_chars=300,
    max_path_chars=80,
    max_seconds=0.5,
)
MAX_PARTS = 16
LZ_OUTPUT = 4096
LZ_INPUT = 64  # lz-string compression is pure Python: short inputs keep the fuzz quick
HEALTH = ("diabetes", "hiv test", "Metformin", "pregnancy", "depression", "jane@example.org")
NOISE = (b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x1b[2J", b"\r\n", b"%", b"%%25", b"\\u")


def plain(rng: random.Random) -> bytes:
    """Content a tracker might send (or an attacker craft), before any encoding."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(600))
    if kind == 1:  # deep JSON
        depth = rng.randrange(1, 300)
        return ('{"a":' * depth + '"' + rng.choice(HEALTH) + '"' + "}" * depth).encode()
    if kind == 2:  # a JSON document of hostile text
        value = {rng.choice(HEALTH): [chr(rng.randrange(0x110000)) for _ in range(8)]}
        return json.dumps(value, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if kind == 3:  # a form body with escapes, NULs and invalid UTF-8
        pairs = [
            f"{rng.choice(HEALTH)}={quote(rng.choice(HEALTH))}" for _ in range(rng.randrange(20))
        ]
        return "&".join(pairs).encode() + rng.choice(NOISE)
    if kind == 4:  # many fields
        return b"&".join(b"k%d=%s" % (n, rng.choice(NOISE)) for n in range(rng.randrange(200)))
    return b"".join(rng.choices(NOISE, k=rng.randrange(300)))


def damage(rng: random.Random, data: bytes) -> bytes:
    """Leave the input whole, cut it, flip bytes, splice noise in, or replace it."""
    kind = rng.randrange(6)
    if kind == 0 or not data:
        return data
    if kind == 1:
        return data[: rng.randrange(len(data))]
    if kind == 2:
        buffer = bytearray(data)
        for _ in range(rng.randrange(1, 5)):
            buffer[rng.randrange(len(buffer))] = rng.randrange(256)
        return bytes(buffer)
    if kind == 3:
        at = rng.randrange(len(data))
        return data[:at] + rng.choice(NOISE) + data[at:]
    if kind == 4:
        return data + rng.randbytes(rng.randrange(64))
    return rng.randbytes(len(data))


def text_of(data: bytes) -> str:
    """Text as mitmproxy hands it over: undecodable bytes become lone surrogates."""
    return data.decode("utf-8", "surrogateescape")


def protobuf_message(rng: random.Random, content: bytes) -> bytes:
    """A message of length-delimited and varint fields, some nested."""
    out = b""
    for _ in range(rng.randrange(1, 6)):
        number = rng.randrange(1, 16)  # a one-byte tag
        if rng.random() < 0.3:
            out += bytes([number << 3]) + bytes([rng.randrange(128)])
            continue
        value = protobuf_message(rng, content) if rng.random() < 0.2 else content[:127]
        out += bytes([(number << 3) | 2, min(len(value), 127)]) + value[:127]
    return out


def multipart_body(rng: random.Random, content: bytes) -> bytes:
    boundary = b"----b" + str(rng.randrange(10**6)).encode()
    parts = [
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n' % n + content
        for n in range(rng.randrange(1, 40))
    ]
    return b"\r\n".join(parts) + b"\r\n--" + boundary + b"--\r\n"


def sentry_body(rng: random.Random, content: bytes) -> bytes:
    lines = [b'{"event_id":"0123","sent_at":"2024-01-01T00:00:00Z"}']
    for _ in range(rng.randrange(1, 40)):
        if rng.random() < 0.5:
            lines += [b'{"type":"event","length":%d}' % rng.randrange(-2, 400), content]
        else:
            lines += [b'{"type":"replay_recording"}', content]
    return b"\n".join(lines)


def jwt_text(content: bytes) -> str:
    def segment(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    return ".".join((segment(b'{"alg":"none"}'), segment(content), segment(b"sig")))


# Checks ---------------------------------------------------------------------------------------


# Each check runs one decoder, asserts its limits, and returns what it decoded (None if
# the input was not in its format), so that undamaged inputs can be shown to decode.


def decompressed(name: str) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        budget = Budget(LIMITS)
        room, _ = budget.room(len(data))
        result = compression.decompress(name, data, budget)
        assert result is None or len(result.data) <= room
        assert budget.decompressed <= LIMITS.max_decompressed_bytes
        return result.data if result is not None and result.complete else None

    return run


def base64_decoded(data: bytes) -> object:
    text = text_of(data)
    variant = textcodecs.base64_variant(text)
    decoded = textcodecs.unbase64(text, variant) if variant else None
    assert decoded is None or len(decoded) <= len(text)
    return decoded


def hex_decoded(data: bytes) -> object:
    text = text_of(data)
    decoded = textcodecs.unhex(text) if textcodecs.is_hex(text) else None
    assert decoded is None or len(decoded) * 2 == len(text)
    return decoded


def percent_decoded(data: bytes) -> object:
    text, layers = textcodecs.unpercent(text_of(data))
    assert isinstance(text, str) and layers <= textcodecs.MAX_PERCENT_LAYERS
    return text if layers else None


def jwt_decoded(data: bytes) -> object:
    payload = textcodecs.jwt_payload(text_of(data))
    assert payload is None or len(payload) <= len(data)
    return payload


def lz(decompress: Callable[..., str | None]) -> Callable[[bytes], object]:
    def run(data: bytes) -> object:
        result = decompress(text_of(data), lambda size: size <= LZ_OUTPUT, printable_start=True)
        # The check stops output at the first phrase past the bound; a phrase is at most
        # as long as everything before it.
        assert result is None or len(result) <= 2 * LZ_OUTPUT + 2
        return result

    return run


def protobuf_strings(data: bytes) -> object:
    found = protobuf.strings(data, Budget(LIMITS), LIMITS.max_nesting)
    assert found is None or all(path.count(".") < LIMITS.max_nesting for path, _ in found)
    return found


def json_parsed(data: bytes) -> object:
    envelopes.parse_json(data)
    return envelopes.parse_json(text_of(data))


def form_parsed(data: bytes) -> object:
    pairs = list(envelopes.form_pairs(text_of(data)))
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in pairs)
    return pairs


def multipart_split(data: bytes) -> object:
    parts = envelopes.multipart(data, MAX_PARTS)
    assert parts is None or 0 < len(parts) <= MAX_PARTS
    return parts


def sentry_split(data: bytes) -> object:
    envelope = envelopes.sentry_envelope(data, MAX_PARTS)
    assert envelope is None or 0 < len(envelope[1]) <= MAX_PARTS
    return envelope


def jsonp_unwrapped(data: bytes) -> object:
    inner = envelopes.unwrap_jsonp(text_of(data))
    assert inner is None or len(inner) <= len(text_of(data))
    return inner


def sniffed(data: bytes) -> object:
    decoded = decode_message(data, LIMITS)
    assert len(decoded.fields) <= LIMITS.max_fields
    for field in decoded.fields:
        assert len(field.value) <= LIMITS.max_value_chars
        assert len(field.path) <= LIMITS.max_path_chars
        assert len(field.trail) <= LIMITS.max_depth
    return [f for f in decoded.fields if f.trail]


# (build an input in the decoder's format from plain content, run and check the decoder)
DECODERS: dict[str, tuple[Callable[[random.Random, bytes], bytes], Callable[[bytes], object]]] = {
    "gzip": (lambda rng, b: gzip.compress(b * rng.randrange(1, 20)), decompressed("gzip")),
    "zlib": (lambda rng, b: zlib.compress(b * rng.randrange(1, 20)), decompressed("zlib")),
    "deflate": (
        lambda rng, b: zlib.compress(b * rng.randrange(1, 20))[2:-4],
        decompressed("deflate"),
    ),
    "brotli": (
        lambda rng, b: brotlicffi.compress(b * rng.randrange(1, 20), quality=1),
        decompressed("brotli"),
    ),
    "zstd": (lambda rng, b: zstandard.compress(b * rng.randrange(1, 20), 1), decompressed("zstd")),
    "base64": (
        lambda rng, b: (base64.urlsafe_b64encode if rng.random() < 0.3 else base64.b64encode)(b),
        base64_decoded,
    ),
    "hex": (lambda rng, b: b.hex().encode(), hex_decoded),
    "percent": (
        lambda rng, b: (
            quote(quote(b, safe=""), safe="").encode()
            if rng.random() < 0.5
            else quote(b, safe="=&").encode()
        ),
        percent_decoded,
    ),  # fmt: skip
    "jwt": (lambda rng, b: jwt_text(b).encode(), jwt_decoded),
    "lz-string-base64": (
        lambda rng, b: lzstring.compress_to_base64(text_of(b[:LZ_INPUT])).encode(),
        lz(lzstring.decompress_from_base64),
    ),
    "lz-string-uri": (
        lambda rng, b: lzstring.compress_to_uri(text_of(b[:LZ_INPUT])).encode(),
        lz(lzstring.decompress_from_uri),
    ),
    "lz-string-utf16": (
        lambda rng, b: lzstring.compress_to_utf16(text_of(b[:LZ_INPUT])).encode(),
        lz(lzstring.decompress_from_utf16),
    ),
    "protobuf": (protobuf_message, protobuf_strings),
    "json": (lambda rng, b: json.dumps({"d": text_of(b)}).encode(), json_parsed),
    "form": (lambda rng, b: b"a=" + b + b"&b=" + quote(b).encode(), form_parsed),
    "multipart": (multipart_body, multipart_split),
    "sentry-envelope": (sentry_body, sentry_split),
    "jsonp": (
        lambda rng, b: b"cb(" + json.dumps([text_of(b)]).encode("utf-8", "surrogatepass") + b")",
        jsonp_unwrapped,
    ),
    "sniffing": (
        lambda rng, b: rng.choice((gzip.compress, base64.b64encode, zstandard.compress))(b),
        sniffed,
    ),
}


@pytest.mark.slow
def test_every_decoder_survives_hostile_input_in_its_own_format(
    figures: Callable[[str], None],
) -> None:
    ran: Counter[str] = Counter()

    @FUZZ
    @given(st.integers(0, 2**64 - 1))
    def fuzz(seed: int) -> None:
        rng = random.Random(seed)
        content = plain(rng)
        for name, (build, check) in DECODERS.items():
            data = damage(rng, build(rng, content))
            try:
                check(data)
            except Stop:
                pass  # the budget ending a decode, as designed
            ran[name] += 1

    fuzz()
    figures(
        f"fuzz decoders: {len(DECODERS)} decoders, at least {min(ran.values())} hostile inputs "
        f"each ({sum(ran.values())} in all), no escaped exception, no limit overrun"
    )
    assert set(ran) == set(DECODERS)
    assert min(ran.values()) >= EXAMPLES


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_each_fuzz_input_builder_makes_what_its_decoder_reads(name: str) -> None:
    """Undamaged, every builder's output decodes: the fuzz reaches past format detection."""
    build, check = DECODERS[name]
    rng = random.Random(7)
    data = build(rng, b"q=diabetes%20type%202&drug=Metformin")
    assert check(data), (name, data[:80])
