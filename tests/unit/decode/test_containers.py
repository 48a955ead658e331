"""Multipart bodies and Sentry envelopes: each part decoded under the path a field map uses."""

from __future__ import annotations

import json
import zlib

from phitrace.decode import containers
from phitrace.decode.request import DEFAULT_LIMITS, Limits, decode_request, field_key
from phitrace.decode.sniff import Decoder
from phitrace.model import Decoded, Field, Request


def post(url: str, body: bytes | str) -> Request:
    return Request("POST", url, (), body.encode() if isinstance(body, str) else body)


def _field(decoded: Decoded, path: str) -> Field:
    """The last field recorded at ``path`` (a decoded value follows its raw form)."""
    return {f.path: f for f in decoded.fields}[path]


def _value(decoded: Decoded, path: str) -> str:
    return _field(decoded, path).value


def _trail(decoded: Decoded, path: str) -> tuple[str, ...]:
    return _field(decoded, path).trail


def test_meta_multipart_posts_become_body_fields() -> None:
    # The shape of the corpus's multipart /tr posts (older pixel versions).
    boundary = "----WebKitFormBoundaryph3egw9Wxf7DDjd2"
    parts = [
        ("id", "1660607454217829"),
        ("ev", "Microdata"),
        ("dl", "https://www.example.org/oncology"),
        ("rl", ""),
        ("cd[Meta]", '{"title":"Cancer Treatment Center","meta:keywords":""}'),
    ]
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{text}\r\n'
        for name, text in parts
    )
    body += f"--{boundary}--\r\n"
    decoded = decode_request(post("https://www.facebook.com/tr/", body))
    assert _value(decoded, "body.dl") == "https://www.example.org/oncology"
    assert _trail(decoded, "body.dl") == ("multipart",)
    assert _value(decoded, "body.rl") == ""
    assert _value(decoded, "body.cd[Meta].title") == "Cancer Treatment Center"
    assert _trail(decoded, "body.cd[Meta].title") == ("multipart", "json")


def test_binary_multipart_parts_are_sniffed() -> None:
    # Datadog's replay upload: a compressed segment beside JSON metadata.
    boundary = "dd-boundary"
    segment = zlib.compress(json.dumps({"records": [{"text": "Message your doctor"}]}).encode())
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="segment"; filename="s"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += segment + f"\r\n--{boundary}--\r\n".encode()
    decoded = decode_request(post("https://browser-intake-datadoghq.com/api/v2/replay", body))
    assert _value(decoded, "body.segment.records[0].text") == "Message your doctor"
    assert _trail(decoded, "body.segment.records[0].text") == ("multipart", "zlib", "json")


def test_sentry_envelope_with_a_zlib_replay_recording() -> None:
    header = {"event_id": "a" * 32, "sent_at": "2025-01-01T12:00:00.000Z"}
    event = {"request": {"url": "https://x.org/portal/messages/new"}, "user": {"id": "patient-42"}}
    recording = b'{"segment_id":0}\n' + zlib.compress(
        json.dumps([{"type": 3, "data": {"text": "my prescription"}}]).encode()
    )
    body = b"\n".join(
        [
            json.dumps(header).encode(),
            b'{"type":"event"}',
            json.dumps(event).encode(),
            json.dumps({"type": "replay_recording", "length": len(recording)}).encode(),
            recording,
        ]
    )
    decoded = decode_request(post("https://o1.ingest.sentry.io/api/2/envelope/", body))
    assert _value(decoded, "body.line[2].request.url") == "https://x.org/portal/messages/new"
    assert field_key("body.line[2].request.url") == "request.url"
    assert _value(decoded, "body.line[3].type") == "replay_recording"
    assert _value(decoded, "body.line[4].segment_id") == "0"
    assert _value(decoded, "body.line[4].recording[0].data.text") == "my prescription"
    assert _trail(decoded, "body.line[4].recording[0].data.text") == ("envelope", "zlib", "json")


def test_data_that_is_no_container_is_left_to_the_other_decoders() -> None:
    decoder = Decoder(DEFAULT_LIMITS)
    assert containers.multipart(decoder, b"--not a boundary line", "body", ()) is False
    assert containers.sentry(decoder, b'{"a": 1}\nplain text', "body", ()) is False
    assert decoder.budget.fields == []


def test_a_container_at_the_depth_limit_is_claimed_but_not_opened() -> None:
    limits = Limits(max_depth=1)
    decoder = Decoder(limits)
    body = b'--b\r\nContent-Disposition: form-data; name="q"\r\n\r\nlupus\r\n--b--\r\n'
    assert containers.multipart(decoder, body, "body", ("gzip",)) is True
    assert decoder.budget.fields == []
    assert decoder.budget.truncated == "decoders nested deeper than 1"
