"""Property tests of the decoders: encoders round-trip, and nothing raises or overruns a limit.

Each test runs a modest number of examples by default.  With
``HYPOTHESIS_PROFILE=ci`` every test runs 10,000, so each decoder sees at
least that many inputs (several tests exercise more than one decoder).
"""

from __future__ import annotations

import base64
import gc
import gzip
import json
import os
import time
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar
from unittest.mock import patch
from urllib.parse import quote, urlencode

import brotlicffi
import pytest
import zstandard
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from phitrace.decode import compression, envelopes, lzstring, protobuf, sniff, textcodecs
from phitrace.decode.budget import Budget
from phitrace.decode.request import DEFAULT_LIMITS, Limits, decode_message, decode_request
from phitrace.model import Decoded, Request

CI = os.environ.get("HYPOTHESIS_PROFILE") == "ci"


def examples(default: int) -> settings:
    """``default`` examples locally, 10,000 under the ``ci`` profile."""
    return settings(
        max_examples=10_000 if CI else default,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ROOMY = replace(DEFAULT_LIMITS, max_seconds=60.0)
"""The default limits with time to spare: round trips through the whole decoder check what
it finds, which must not depend on how busy the machine running the tests is."""

TIGHT = Limits(
    max_seconds=0.02,
    max_body_bytes=4096,
    max_decompressed_bytes=64 * 1024,
    max_ratio=50.0,
    max_depth=4,
    max_nesting=6,
    max_fields=40,
    max_value_chars=200,
    max_path_chars=60,
)


OVERSHOOT_SECONDS = 0.5
"""CPU time a decode may run past ``max_seconds``.

The deadline is checked in every loop; the longest step between two checks
(parsing one JSON document, one chunk of decompression) takes milliseconds on
these inputs, so this only leaves room for a slow or busy machine.  CPU time
of this thread is measured, never more than the wall-clock time the decoder
bounds, so other processes on the machine cannot make the test fail.
"""


class RecordedBudget(Budget):
    """A budget that stays reachable after the decode, to check what it spent."""

    made: ClassVar[list[Budget]] = []

    def __init__(self, limits: Limits) -> None:
        super().__init__(limits)
        RecordedBudget.made.append(self)


def checked(decode: Callable[[], Decoded], limits: Limits) -> Decoded:
    """Run one decode and check the whole contract: limits, decompressed bytes and time."""
    RecordedBudget.made.clear()
    # The garbage collector is held off while timing: a collection here would spend the
    # time of the garbage thousands of earlier examples left, not of this decode.
    with patch.object(sniff, "Budget", RecordedBudget):
        gc.disable()
        try:
            start = time.thread_time()
            decoded = decode()
            spent = time.thread_time() - start
        finally:
            gc.enable()
    within(decoded, limits)
    (budget,) = RecordedBudget.made
    assert budget.decompressed <= limits.max_decompressed_bytes
    assert spent <= limits.max_seconds + OVERSHOOT_SECONDS, f"{spent:.2f}s of CPU time"
    return decoded


def within(decoded: Decoded, limits: Limits) -> None:
    """The contract every decode keeps, whatever the input."""
    assert isinstance(decoded, Decoded)
    assert len(decoded.fields) <= limits.max_fields
    for field in decoded.fields:
        assert isinstance(field.value, str) and len(field.value) <= limits.max_value_chars
        assert len(field.path) <= limits.max_path_chars
        assert len(field.trail) <= limits.max_depth
    assert decoded.truncated is None or "decoder error" not in decoded.truncated, decoded.truncated


# -- round trips of single codecs ------------------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "zlib": zlib.compress,
    "deflate": _raw_deflate,
    "brotli": brotlicffi.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@examples(150)
@given(st.sampled_from(sorted(COMPRESSORS)), st.binary(max_size=2048))
def test_compression_round_trips(name: str, data: bytes) -> None:
    out = compression.decompress(name, COMPRESSORS[name](data), Budget(DEFAULT_LIMITS))
    assert out is not None and out.complete and out.data == data


@examples(150)
@given(st.binary(max_size=512))
def test_base64_base64url_and_hex_round_trip(data: bytes) -> None:
    assert textcodecs.unbase64(base64.b64encode(data).decode(), "base64") == data
    unpadded = base64.urlsafe_b64encode(data).decode().rstrip("=")
    assert textcodecs.unbase64(unpadded, "base64url") == data
    assert textcodecs.unhex(data.hex()) == data


PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=200)


@examples(150)
@given(PRINTABLE, st.integers(min_value=1, max_value=3))
def test_percent_encoding_round_trips(text: str, layers: int) -> None:
    encoded = text
    for _ in range(layers):
        encoded = quote(encoded, safe="")
    decoded, undone = textcodecs.unpercent(encoded)
    if "%" in text:  # a literal escape in the text itself is ambiguous: it may be undone too
        assert undone >= (layers if quote(text, safe="") != text else 0)
    else:
        assert decoded == text
        assert undone == (layers if quote(text, safe="") != text else 0)


@examples(150)
@given(
    st.sampled_from(
        [
            (lzstring.compress_to_base64, lzstring.decompress_from_base64),
            (lzstring.compress_to_uri, lzstring.decompress_from_uri),
            (lzstring.compress_to_utf16, lzstring.decompress_from_utf16),
        ]
    ),
    st.text(max_size=300),
)
def test_lz_string_round_trips(
    pair: tuple[Callable[..., str], Callable[..., Any]], text: str
) -> None:
    compress, decompress = pair
    assert decompress(compress(text)) == text


@examples(150)
@given(
    st.dictionaries(st.sampled_from(["alg", "typ", "kid"]), st.text(max_size=20), min_size=1),
    st.dictionaries(st.text(max_size=20), st.text(max_size=40) | st.integers()),
)
def test_jwt_payloads_round_trip(header: dict[str, str], claims: dict[str, Any]) -> None:
    def part(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    payload = textcodecs.jwt_payload(f"{part(header)}.{part(claims)}.sig")
    assert payload is not None and json.loads(payload) == claims


SHORT_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=30)


def _pb_string(number: int, text: str) -> bytes:
    data = text.encode()
    return bytes([number << 3 | 2, len(data)]) + data


@examples(150)
@given(st.lists(st.tuples(st.integers(min_value=1, max_value=15), SHORT_TEXT), max_size=10))
def test_protobuf_strings_round_trip(fields: list[tuple[int, str]]) -> None:
    message = b"".join(_pb_string(n, t) + b"\x08\x01" for n, t in fields)
    found = protobuf.strings(message, Budget(DEFAULT_LIMITS), 8)
    assert found == [(str(n), t) for n, t in fields]


KEY = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters='"\\'),
    min_size=1,
    max_size=12,
)


@examples(150)
@given(st.lists(st.tuples(KEY, st.binary(max_size=200)), min_size=1, max_size=8))
def test_multipart_round_trips(parts: list[tuple[str, bytes]]) -> None:
    boundary = "----phitraceBoundary7MA4YWxkTrZu0gW"
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + content
        + b"\r\n"
        for name, content in parts
    )
    body += f"--{boundary}--\r\n".encode()
    found = envelopes.multipart(body, 100)
    assert found == [envelopes.Part(name, content) for name, content in parts]


@examples(150)
@given(
    st.lists(
        st.tuples(st.sampled_from(["event", "session", "attachment"]), st.binary(max_size=100)),
        min_size=1,
        max_size=5,
    )
)
def test_sentry_envelopes_round_trip(items: list[tuple[str, bytes]]) -> None:
    lines = [b'{"event_id":"0123456789abcdef0123456789abcdef"}']
    for kind, payload in items:
        lines.append(json.dumps({"type": kind, "length": len(payload)}).encode())
        lines.append(payload)
    envelope = envelopes.sentry_envelope(b"\n".join(lines), 100)
    assert envelope is not None
    assert [(i.header["type"], i.payload) for i in envelope[1]] == items


@examples(150)
@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=10))
def test_form_pairs_round_trip(pairs: list[tuple[str, str]]) -> None:
    assert list(envelopes.form_pairs(urlencode(pairs))) == pairs


TOKEN = st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=10)


@examples(150)
@given(st.lists(st.tuples(TOKEN, st.text(max_size=40)), max_size=8))
def test_cookie_pairs_round_trip(pairs: list[tuple[str, str]]) -> None:
    header = "; ".join(f"{name}={quote(value, safe='')}" for name, value in pairs)
    assert list(envelopes.cookie_pairs(header)) == pairs


@examples(150)
@given(
    st.sampled_from(["/activityi", "/ddm/activity", "/ddm/fls/i"]),
    st.lists(st.tuples(TOKEN, st.text(max_size=40)), min_size=1, max_size=8),
)
def test_doubleclick_path_parameters_round_trip(head: str, pairs: list[tuple[str, str]]) -> None:
    path = head + "".join(f";{key}={quote(value, safe='')}" for key, value in pairs)
    assert list(envelopes.path_params(path)) == pairs


@examples(150)
@given(
    st.from_regex(r"[A-Za-z_$][A-Za-z0-9_$.]{0,20}", fullmatch=True),
    st.sampled_from(["", ";", " ;"]),
    st.sampled_from(["", *envelopes.XSSI_PREFIXES]),
    st.dictionaries(TOKEN, st.text(max_size=20), max_size=4) | st.lists(st.integers(), max_size=4),
)
def test_jsonp_wrappers_round_trip(callback: str, end: str, prefix: str, doc: Any) -> None:
    inner = json.dumps(doc)
    wrapped = f"{prefix}{callback}({inner}){end}"
    found = envelopes.unwrap_jsonp(wrapped)
    assert found is not None and json.loads(found) == doc


# -- round trips through the whole decoder ---------------------------------------------------

JSON_KEY = st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=1, max_size=8)
LEAF = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters="%"), max_size=30
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(JSON_KEY, children, max_size=4)


JSON_DOC = st.recursive(
    LEAF | st.integers(min_value=-(10**9), max_value=10**9), _containers, max_leaves=30
)


def _leaves(node: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [leaf for k, v in node.items() for leaf in _leaves(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [leaf for i, v in enumerate(node) for leaf in _leaves(v, f"{path}[{i}]")]
    return [(path, str(node))]


@examples(100)
@given(st.dictionaries(JSON_KEY, JSON_DOC, min_size=1, max_size=6))
def test_every_json_leaf_becomes_a_field(doc: dict[str, Any]) -> None:
    decoded = decode_request(
        Request("POST", "https://t.example/c", (), json.dumps(doc).encode()), ROOMY
    )
    fields = {(f.path, f.value) for f in decoded.fields}
    assert set(_leaves(doc, "body")) <= fields


@examples(100)
@pytest.mark.slow
@given(
    st.lists(st.dictionaries(JSON_KEY, JSON_DOC, min_size=1, max_size=4), min_size=2, max_size=5)
)
def test_every_ndjson_leaf_becomes_a_line_field(docs: list[dict[str, Any]]) -> None:
    body = "\n".join(json.dumps(doc) for doc in docs).encode()
    decoded = decode_request(Request("POST", "https://t.example/c", (), body), ROOMY)
    fields = {(f.path, f.value) for f in decoded.fields}
    for index, doc in enumerate(docs):
        assert set(_leaves(doc, f"body.line[{index}]")) <= fields


@examples(100)
@given(st.lists(st.dictionaries(JSON_KEY, LEAF, min_size=2, max_size=4), min_size=2, max_size=5))
def test_every_batched_hit_parameter_becomes_a_line_field(hits: list[dict[str, str]]) -> None:
    body = "\r\n".join(urlencode(hit) for hit in hits).encode()
    decoded = decode_request(Request("POST", "https://t.example/g/collect", (), body), ROOMY)
    fields = {(f.path, f.value, f.trail) for f in decoded.fields}
    for index, hit in enumerate(hits):
        for key, val in hit.items():
            assert (f"body.line[{index}].{key}", val, ("lines", "form")) in fields


SECRET = st.text(st.characters(min_codepoint=0x61, max_codepoint=0x7A), min_size=6, max_size=20)

LAYERS: dict[str, Callable[[str], str]] = {
    "json": lambda text: json.dumps({"v": text}),
    "base64": lambda text: base64.b64encode(text.encode()).decode(),
    "base64url": lambda text: base64.urlsafe_b64encode(text.encode()).decode().rstrip("="),
    "hex": lambda text: text.encode().hex(),
    "percent": lambda text: quote(text, safe=""),
    "lz-string": lzstring.compress_to_base64,
    "gzip+base64": lambda text: base64.b64encode(gzip.compress(text.encode())).decode(),
    "zlib+base64": lambda text: base64.b64encode(zlib.compress(text.encode())).decode(),
    "zstd+base64url": lambda text: base64.urlsafe_b64encode(
        zstandard.ZstdCompressor().compress(text.encode())
    ).decode(),
    "form": lambda text: urlencode({"v": "2", "d": text}),
    "jwt": lambda text: ".".join(
        base64.urlsafe_b64encode(part.encode()).decode().rstrip("=")
        for part in ('{"alg":"none"}', json.dumps({"d": text}), "")
    ),
}


@examples(150)
@given(SECRET, st.lists(st.sampled_from(sorted(LAYERS)), min_size=1, max_size=3))
def test_stacked_encodings_are_undone(secret: str, layers: list[str]) -> None:
    text = json.dumps({"secret": secret})
    for layer in layers:
        text = LAYERS[layer](text)
        # Hex of hex can be all digits, which is left alone: it looks like a number.
        assume(not text.isdigit())
    body = json.dumps({"payload": text}).encode()
    decoded = decode_request(Request("POST", "https://t.example/c", (), body), ROOMY)
    assert secret in [f.value for f in decoded.fields], (layers, decoded.fields)


@examples(150)
@given(SECRET, st.sampled_from([lzstring.compress_to_uri, lzstring.compress_to_base64]))
def test_lz_string_values_put_unescaped_in_a_query_are_undone(
    secret: str, compress: Callable[[str], str]
) -> None:
    packed = compress(json.dumps({"page": f"/clinic/{secret}"}))
    decoded = decode_request(Request("GET", f"https://t.example/p?s={packed}"), ROOMY)
    assert f"/clinic/{secret}" in [f.value for f in decoded.fields], packed


@examples(150)
@given(SECRET, st.sampled_from(sorted(COMPRESSORS)))
def test_compressed_bodies_are_undone(secret: str, name: str) -> None:
    body = COMPRESSORS[name](json.dumps({"page": f"https://x.org/{secret}"}).encode())
    decoded = decode_request(Request("POST", "https://t.example/c", (), body), ROOMY)
    assert f"https://x.org/{secret}" in [f.value for f in decoded.fields]


# -- hostile input ---------------------------------------------------------------------------

MAGIC = st.sampled_from(
    [b"", b"\x1f\x8b\x08", b"\x78\x9c", b"\x28\xb5\x2f\xfd", b"--b\r\n", b"{", b"\x0a"]
)
HEADERS = st.lists(
    st.tuples(
        st.sampled_from(["Content-Encoding", "Cookie", "Referer", "Content-Type"]),
        st.sampled_from(["gzip", "br", "deflate", "zstd", "a=1; b=eyJ4Ijoi", "text/plain"])
        | st.text(max_size=60),
    ),
    max_size=3,
)


@examples(250)
@given(MAGIC, st.binary(max_size=4096), HEADERS, st.sampled_from([DEFAULT_LIMITS, TIGHT]))
def test_arbitrary_bodies_never_raise_or_overrun(
    magic: bytes, data: bytes, headers: list[tuple[str, str]], limits: Limits
) -> None:
    request = Request("POST", "https://t.example/c", tuple(headers), magic + data)
    checked(lambda: decode_request(request, limits), limits)


@examples(250)
@given(st.text(max_size=600), st.sampled_from([DEFAULT_LIMITS, TIGHT]))
def test_arbitrary_urls_never_raise_or_overrun(tail: str, limits: Limits) -> None:
    request = Request("GET", f"https://t.example/p;{tail}?{tail}#{tail}")
    checked(lambda: decode_request(request, limits), limits)


def _any_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.text(max_size=10)
    return st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=5)


NESTED_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=40),
    _any_containers,
    max_leaves=60,
)


@examples(150)
@given(NESTED_JSON, st.sampled_from([DEFAULT_LIMITS, TIGHT]), st.booleans())
def test_arbitrary_nested_json_never_raises_or_overruns(
    doc: Any, limits: Limits, wrap: bool
) -> None:
    text = json.dumps(doc)
    if wrap:  # as a string inside a JSON string inside a form
        text = "data=" + quote(json.dumps({"inner": text}))
    request = Request("POST", "https://t.example/c", (), text.encode())
    checked(lambda: decode_request(request, limits), limits)


@examples(250)
@given(st.binary(max_size=2048) | st.text(max_size=2048), st.sampled_from([DEFAULT_LIMITS, TIGHT]))
def test_arbitrary_websocket_messages_never_raise_or_overrun(
    message: bytes | str, limits: Limits
) -> None:
    checked(lambda: decode_message(message, limits), limits)


HOSTILE_PIECES = st.sampled_from(
    [
        "k=%25aa&",
        '{"a":"',
        '{"a":[',
        "eyJhIjoi",
        "A",
        "a=1&b=2\n",
        '{"x":1}\n',
        "%2525",
        "cb(",
        "--b\r\n",
    ]
)


@examples(12)
@given(HOSTILE_PIECES | st.text(min_size=1, max_size=16), st.sampled_from([DEFAULT_LIMITS, TIGHT]))
def test_large_repetitive_bodies_stop_within_the_time_budget(piece: str, limits: Limits) -> None:
    body = (piece * (limits.max_body_bytes // max(len(piece.encode()), 1) + 1)).encode()
    request = Request("POST", "https://t.example/c", (), body)
    checked(lambda: decode_request(request, limits), limits)
