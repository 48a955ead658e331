"""Decoding whole requests and messages into fields, in the shapes real trackers send.

Payloads are reconstructed from the vendors' documented formats and from the
shared corpus captures; each test names the vendor whose shape it follows.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from urllib.parse import quote

import pytest

from phitrace.decode import lzstring
from phitrace.decode.request import (
    DEFAULT_LIMITS,
    Limits,
    decode_message,
    decode_request,
    field_key,
)
from phitrace.model import Decoded, Field, Request


def post(url: str, body: bytes | str, *headers: tuple[str, str]) -> Request:
    data = body.encode() if isinstance(body, str) else body
    return Request("POST", url, tuple(headers), data)


def get(url: str, *headers: tuple[str, str]) -> Request:
    return Request("GET", url, tuple(headers))


def by_path(decoded: Decoded) -> dict[str, Field]:
    """The last field recorded at each path (a decoded value follows its raw form)."""
    return {f.path: f for f in decoded.fields}


def value(decoded: Decoded, path: str) -> str:
    return by_path(decoded)[path].value


def trail(decoded: Decoded, path: str) -> tuple[str, ...]:
    return by_path(decoded)[path].trail


# -- URLs ------------------------------------------------------------------------------------


def test_ga4_query_parameters_keep_their_names() -> None:
    decoded = decode_request(
        get(
            "https://region1.google-analytics.com/g/collect?v=2&tid=G-ABC123"
            "&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fasthma&dt=Asthma%20care&en=page_view"
        )
    )
    assert value(decoded, "query.dl") == "https://www.example.org/conditions/asthma"
    assert value(decoded, "query.dt") == "Asthma care"
    assert trail(decoded, "query.dl") == ()


def test_repeated_and_bracketed_query_keys_all_become_fields() -> None:
    decoded = decode_request(
        get("https://www.facebook.com/tr/?id=1&ev=Search&cd[search_string]=diabetes&ev=Lead")
    )
    assert [f.value for f in decoded.fields if f.path == "query.ev"] == ["Search", "Lead"]
    assert value(decoded, "query.cd[search_string]") == "diabetes"
    assert field_key("query.cd[search_string]") == "cd[search_string]"


def test_floodlight_semicolon_parameters_are_path_fields() -> None:
    decoded = decode_request(
        get(
            "https://ad.doubleclick.net/activityi;src=123;type=appts;cat=book0;"
            "u1=https%3A%2F%2Fwww.example.org%2Fbook;ord=1?"
        )
    )
    assert value(decoded, "path.u1") == "https://www.example.org/book"
    assert value(decoded, "path.src") == "123"


def test_newer_floodlight_paths_start_with_a_parameter() -> None:
    decoded = decode_request(get("https://ad.doubleclick.net/ddm/activity/src=123;type=x;u2=hiv"))
    assert value(decoded, "path.src") == "123"
    assert value(decoded, "path.u2") == "hiv"


def test_fragment_parameters_and_bare_fragments_are_read() -> None:
    decoded = decode_request(get("https://t.example/p#page=%2Fportal%2Fmessages&q=rash"))
    assert value(decoded, "fragment.page") == "/portal/messages"
    bare = decode_request(get("https://stc.demdex.net/dest5.html#https%3A%2F%2Fwww.example.org"))
    assert value(bare, "fragment") == "https://www.example.org"
    assert trail(bare, "fragment") == ("percent",)


def test_a_query_that_is_itself_json_is_decoded() -> None:
    query = quote(json.dumps({"tagKey": "1", "url": "https://www.example.org/std-testing"}))
    decoded = decode_request(get(f"https://s.tribalfusion.com/visitor?{query}"))
    assert value(decoded, "query.url") == "https://www.example.org/std-testing"
    assert trail(decoded, "query.url") == ("json",)


def test_google_maps_style_bare_parameters_are_kept_as_values() -> None:
    decoded = decode_request(
        get("https://maps.googleapis.com/maps/api/js/Auth?1shttps%3A%2F%2Fwww.example.org%2F&4sKEY")
    )
    assert "1shttps://www.example.org/" in [f.value for f in decoded.fields if f.path == "query"]


def test_double_percent_encoding_is_undone_with_a_trail() -> None:
    decoded = decode_request(
        get("https://t.example/p?u=https%253A%252F%252Fwww.example.org%252Fhiv")
    )
    assert value(decoded, "query.u") == "https://www.example.org/hiv"
    assert trail(decoded, "query.u") == ("percent",)


def test_percent_layers_stop_where_json_begins() -> None:
    inner = quote(json.dumps({"secret": "hiv"}), safe="")
    outer = quote(json.dumps({"v": inner}), safe="")
    decoded = decode_request(get(f"https://t.example/p?d={quote(outer, safe='')}"))
    assert value(decoded, "query.d.v.secret") == "hiv"
    assert trail(decoded, "query.d.v.secret") == ("percent", "json", "percent", "json")


def test_a_nested_form_is_split_rather_than_percent_decoded() -> None:
    # HubSpot's identify call puts a whole form in `i`.
    decoded = decode_request(
        get("https://track.hubspot.com/__ptq.gif?a=1&i=email%3Djane%2540example.org%26id%3D42")
    )
    fields = by_path(decoded)
    assert fields["query.i"].value == "email=jane%40example.org&id=42"
    assert fields["query.i.email"].value == "jane@example.org"
    assert fields["query.i.email"].trail == ("form",)


# -- bodies ----------------------------------------------------------------------------------


def test_meta_form_post_with_json_in_bracketed_keys() -> None:
    body = (
        "id=1&ev=SubscribedButtonClick&cd[buttonText]=Request%20appointment"
        "&cd[buttonFeatures]=%7B%22innerText%22%3A%22Request%20appointment%22%7D"
    )
    decoded = decode_request(post("https://www.facebook.com/tr/", body))
    assert value(decoded, "body.cd[buttonText]") == "Request appointment"
    assert trail(decoded, "body.cd[buttonText]") == ("form",)
    assert value(decoded, "body.cd[buttonFeatures].innerText") == "Request appointment"
    assert trail(decoded, "body.cd[buttonFeatures].innerText") == ("form", "json")


def test_ga4_batched_hits_are_numbered_lines() -> None:
    body = "en=view_search_results&ep.search_term=hiv%20test\r\nen=scroll&epn.percent_scrolled=90"
    decoded = decode_request(post("https://www.google-analytics.com/g/collect?v=2", body))
    assert value(decoded, "body.line[0].ep.search_term") == "hiv test"
    assert trail(decoded, "body.line[0].ep.search_term") == ("lines", "form")
    assert field_key("body.line[0].ep.search_term") == "ep.search_term"


def test_adobe_web_sdk_json_sent_as_text_plain() -> None:
    event = {"xdm": {"web": {"webPageDetails": {"URL": "https://www.example.org/mental-health"}}}}
    decoded = decode_request(
        post(
            "https://edge.adobedc.net/ee/v2/interact?configId=x",
            json.dumps({"events": [event]}),
            ("Content-Type", "text/plain;charset=UTF-8"),
        )
    )
    path = "body.events[0].xdm.web.webPageDetails.URL"
    assert value(decoded, path) == "https://www.example.org/mental-health"
    assert trail(decoded, path) == ("json",)
    assert field_key(path) == "events[0].xdm.web.webPageDetails.URL"


def test_datadog_ndjson_batches_with_a_cut_last_line() -> None:
    lines = [
        json.dumps({"type": "view", "view": {"url": "https://www.example.org/portal/labs"}}),
        json.dumps({"type": "action", "action": {"target": {"name": "View results"}}}),
        '{"type": "error", "error": {"mess',
    ]
    body = zlib.compress("\n".join(lines).encode())
    decoded = decode_request(post("https://browser-intake-datadoghq.com/api/v2/rum", body))
    assert value(decoded, "body.line[0].view.url") == "https://www.example.org/portal/labs"
    assert trail(decoded, "body.line[1].action.target.name") == ("zlib", "ndjson", "json")
    assert value(decoded, "body.line[2]").startswith('{"type": "error"')


def test_mixpanel_data_form_field_holds_json_or_base64_json() -> None:
    event = {"event": "Viewed Provider", "properties": {"$current_url": "https://x.org/oncology"}}
    plain = decode_request(
        post("https://api-js.mixpanel.com/track/", f"data={quote(json.dumps(event))}")
    )
    assert value(plain, "body.data.properties.$current_url") == "https://x.org/oncology"
    assert trail(plain, "body.data.properties.$current_url") == ("form", "json")
    encoded = base64.b64encode(json.dumps(event).encode()).decode()
    proxied = decode_request(post("https://mp.example.org/track/", f"data={quote(encoded)}"))
    assert value(proxied, "body.data.event") == "Viewed Provider"
    assert trail(proxied, "body.data.event") == ("form", "base64", "json")


def test_snowplow_base64url_contexts_inside_json() -> None:
    context = {"schema": "iglu:com.acme/page/jsonschema/1-0-0", "data": [{"condition": "asthma"}]}
    context["note"] = "~~~?"  # bytes that base64url writes with "-" or "_"
    cx = base64.urlsafe_b64encode(json.dumps(context).encode()).decode().rstrip("=")
    assert "-" in cx or "_" in cx
    body = json.dumps({"schema": "iglu:payload_data", "data": [{"e": "pv", "cx": cx}]})
    decoded = decode_request(post("https://c.example.org/com.snowplowanalytics.snowplow/tp2", body))
    assert value(decoded, "body.data[0].cx.data[0].condition") == "asthma"
    assert trail(decoded, "body.data[0].cx.data[0].condition") == ("json", "base64url", "json")


def test_clarity_gzip_without_content_encoding() -> None:
    payload = {
        "e": ["0.7.40", 1, 0, 100, "projid", "userid", "sessid", 1, 0, 0, 0, "https://x.org/hiv"],
        "a": [[1200, 1, 1, ["https://x.org/hiv"], 3, ["HIV testing"]]],
    }
    decoded = decode_request(
        post(
            "https://k.clarity.ms/collect",
            gzip.compress(json.dumps(payload).encode()),
            ("Accept", "application/x-clarity-gzip"),
        )
    )
    assert value(decoded, "body.e[11]") == "https://x.org/hiv"
    assert value(decoded, "body.a[0][5][0]") == "HIV testing"
    assert trail(decoded, "body.a[0][5][0]") == ("gzip", "json")


def test_nested_gzip_json_base64_json() -> None:
    inner = base64.b64encode(json.dumps({"search": "chlamydia treatment"}).encode()).decode()
    batch = [{"event": "$pageview", "properties": {"$set": inner}}]
    body = gzip.compress(json.dumps(batch).encode())
    decoded = decode_request(post("https://us.i.posthog.com/e/?compression=gzip-js", body))
    assert value(decoded, "body[0].properties.$set.search") == "chlamydia treatment"
    assert trail(decoded, "body[0].properties.$set.search") == ("gzip", "json", "base64", "json")


def test_posthog_legacy_lz64_payload() -> None:
    batch = [{"event": "$pageview", "properties": {"$current_url": "https://x.org/abortion"}}]
    data = lzstring.compress_to_base64(json.dumps(batch))
    decoded = decode_request(
        post("https://app.posthog.com/e/?compression=lz64", f"data={quote(data)}")
    )
    assert value(decoded, "body.data[0].properties.$current_url") == "https://x.org/abortion"
    assert trail(decoded, "body.data[0].properties.$current_url") == ("form", "lz-string", "json")


def test_content_encoding_is_a_hint_for_formats_without_magic() -> None:
    import brotlicffi

    body = brotlicffi.compress(b'{"page": "https://x.org/psychiatry"}')
    decoded = decode_request(post("https://t.example/c", body, ("Content-Encoding", "br")))
    assert value(decoded, "body.page") == "https://x.org/psychiatry"
    assert trail(decoded, "body.page") == ("brotli", "json")


def test_brotli_and_raw_deflate_are_found_without_a_header() -> None:
    import brotlicffi

    text = b'{"page": "https://x.org/fertility", "title": "IVF clinic near you"}'
    for body, name in ((brotlicffi.compress(text), "brotli"), (_raw_deflate(text), "deflate")):
        decoded = decode_request(post("https://t.example/c", body))
        assert trail(decoded, "body.page") == (name, "json")


@pytest.mark.parametrize("header", [(), (("Content-Encoding", "zstd"),)])
def test_zstd_bodies_with_or_without_content_encoding(header: tuple[tuple[str, str], ...]) -> None:
    import zstandard

    batch = [{"type": "view", "view": {"url": "https://x.org/telehealth/visit"}}]
    body = zstandard.ZstdCompressor().compress(json.dumps(batch).encode())
    decoded = decode_request(post("https://rum.example.net/v1/input", body, *header))
    assert value(decoded, "body[0].view.url") == "https://x.org/telehealth/visit"
    assert trail(decoded, "body[0].view.url") == ("zstd", "json")


def test_raw_deflate_sent_as_content_encoding_deflate_is_still_read() -> None:
    # RFC 9110 says "deflate" means zlib, but some clients send headerless deflate.
    body = _raw_deflate(b'{"page": "https://x.org/hepatitis"}')
    decoded = decode_request(post("https://t.example/c", body, ("Content-Encoding", "deflate")))
    assert value(decoded, "body.page") == "https://x.org/hepatitis"
    assert trail(decoded, "body.page") == ("deflate", "json")


def test_amplitude_form_field_holding_a_json_array_of_events() -> None:
    events = [
        {"event_type": "Viewed Page", "event_properties": {"path": "/conditions/hiv"}},
        {"event_type": "Clicked", "event_properties": {"label": "Book appointment"}},
    ]
    body = f"client=0123abcd&e={quote(json.dumps(events))}&upload_time=1700000000000"
    decoded = decode_request(post("https://api2.amplitude.com/", body))
    assert value(decoded, "body.e[0].event_properties.path") == "/conditions/hiv"
    assert value(decoded, "body.e[1].event_properties.label") == "Book appointment"
    assert trail(decoded, "body.e[1].event_type") == ("form", "json")


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def test_jsonp_and_anti_xssi_wrappers_are_unwrapped() -> None:
    wrapped = decode_request(post("https://t.example/cb", 'jQuery123_456({"q": "lupus"});'))
    assert value(wrapped, "body.q") == "lupus"
    assert trail(wrapped, "body.q") == ("jsonp", "json")
    prefixed = decode_request(post("https://t.example/x", ')]}\'\n{"q": "migraine"}'))
    assert value(prefixed, "body.q") == "migraine"


def test_recaptcha_style_protobuf_strings_are_extracted() -> None:
    message = _pb(1, b"qljbK_DTcvY1PzbR7IG69z1r") + _pb(3, b"[0,12,49]") + b"\x28\x96\x01"
    message += _pb(7, _pb(1, b"https://www.example.org/contact"))
    decoded = decode_request(post("https://www.google.com/recaptcha/api2/reload", message))
    assert value(decoded, "body.1") == "qljbK_DTcvY1PzbR7IG69z1r"
    assert value(decoded, "body.7.1") == "https://www.example.org/contact"
    assert trail(decoded, "body.3[1]") == ("protobuf", "json")


def _pb(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths under 128)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_undecodable_binary_keeps_its_printable_runs() -> None:
    body = bytes(range(256)) * 2 + b"\x00\xffemail=jane@example.org\x00\x01"
    decoded = decode_request(post("https://r.lr-ingest.io/i", body))
    assert "email=jane@example.org" in value(decoded, "body")
    assert trail(decoded, "body") == ("binary",)


def test_binary_bodies_read_as_latin1_text_are_repaired() -> None:
    # HAR exports that stored gzip bytes as text come back as UTF-8 of U+0000–U+00FF.
    raw = gzip.compress(b'{"page": "https://x.org/std"}')
    decoded = decode_request(post("https://content.hotjar.io/?gzip=1", raw.decode("latin-1")))
    assert value(decoded, "body.page") == "https://x.org/std"
    assert trail(decoded, "body.page") == ("latin1", "gzip", "json")


def test_plain_text_bodies_are_one_field() -> None:
    decoded = decode_request(
        post("https://bam.nr-data.net/events/1/x", "bel.7;1,5,,'initialPageLoad")
    )
    assert by_path(decoded)["body"] == Field("body", "bel.7;1,5,,'initialPageLoad", ("text",))


def test_a_base64_text_body_is_decoded() -> None:
    body = base64.b64encode(json.dumps({"url": "www.example.org/patients"}).encode())
    decoded = decode_request(post("https://tags.wdsvc.net/post-log", body))
    assert value(decoded, "body.url") == "www.example.org/patients"
    assert trail(decoded, "body.url") == ("base64", "json")


# -- values ----------------------------------------------------------------------------------


def test_jwt_payloads_are_decoded_and_signatures_ignored() -> None:
    def part(doc: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'patient-42'})}.c2lnbmF0dXJl"
    decoded = decode_request(get(f"https://t.example/p?auth={token}"))
    assert value(decoded, "query.auth.sub") == "patient-42"
    assert trail(decoded, "query.auth.sub") == ("jwt", "json")


def test_short_base64_json_is_decoded() -> None:
    decoded = decode_request(get("https://t.example/p?d=eyJhIjoxfQ%3D%3D"))
    assert value(decoded, "query.d.a") == "1"
    assert trail(decoded, "query.d.a") == ("base64", "json")


def test_hex_encoded_text_is_decoded_but_hashes_are_not() -> None:
    hashed = "8b1a9953c4611296a827abf8c47804d7e6c49c6b0f3e3a1b0f4a3b2c1d0e9f8a"
    text = b"jane.doe@example.org".hex()
    decoded = decode_request(get(f"https://t.example/p?em={hashed}&e={text}"))
    assert [f.value for f in decoded.fields if f.path == "query.em"] == [hashed]
    assert value(decoded, "query.e") == "jane.doe@example.org"
    assert trail(decoded, "query.e") == ("hex",)


@pytest.mark.parametrize(
    "token",
    [
        "KkwHwAT7jjkBCUz7hmd7OjZRw06NJxvZCMISZED0Zfn-_Oaj3MbAp__W3uLJIPKZ8tYpVYHrdFtCTVEKoKX8q9",
        "1veml+bVsWVqNvDP7hQuAU2SwSFtaQ1RbgFt9fBUODsrrMPyrF1L4FOoeAxrtkUEjMKVeJhMJlfyYm+z8NP46Q==",
        "GoogleTagManagerClient",
        "messageId-1745853750673-9572865390382-C8J7IKS8D8GECQQUIMM0",
        "a75b44b0244411f0a1b9e132d3337dcd",
    ],
)
def test_random_identifiers_are_left_alone(token: str) -> None:
    decoded = decode_request(get(f"https://t.example/p?id={quote(token)}"))
    assert decoded.fields == (Field("query.id", token, ()),)


def test_base64_whose_plus_signs_became_spaces() -> None:
    encoded = base64.b64encode(b'{"events": [{"session_dua": "Mozilla/5.0 ~~>"}]}').decode()
    assert "+" in encoded
    decoded = decode_request(get(f"https://udc-neb.kampyle.com/track/__cool.gif?data={encoded}"))
    assert value(decoded, "query.data.events[0].session_dua") == "Mozilla/5.0 ~~>"


def test_lz_string_uri_and_utf16_values() -> None:
    uri = lzstring.compress_to_uri('{"page": "/clinics/planned-parenthood"}')
    decoded = decode_request(get(f"https://t.example/p?s={uri}"))
    assert value(decoded, "query.s.page") == "/clinics/planned-parenthood"
    utf16 = lzstring.compress_to_utf16('{"diagnosis": "type 2 diabetes"}')
    message = decode_message(json.dumps({"state": utf16}))
    assert value(message, "message.state.diagnosis") == "type 2 diabetes"
    assert trail(message, "message.state.diagnosis") == ("json", "lz-string", "json")


# -- cookies, headers, messages --------------------------------------------------------------


def test_cookie_values_are_decoded() -> None:
    session = base64.b64encode(json.dumps({"id": "u-1", "lastPage": "/hiv"}).encode()).decode()
    decoded = decode_request(
        get("https://t.example/p", ("Cookie", f"_fbp=fb.1.1.2; _hjSessionUser_1={session}"))
    )
    assert value(decoded, "cookie._fbp") == "fb.1.1.2"
    assert value(decoded, "cookie._hjSessionUser_1.lastPage") == "/hiv"
    assert field_key("cookie._fbp") == "cookie._fbp"


def test_referer_is_recorded_as_a_header_field() -> None:
    decoded = decode_request(get("https://t.example/p", ("Referer", "https://x.org/hiv")))
    assert by_path(decoded)["header.referer"] == Field("header.referer", "https://x.org/hiv", ())


def test_websocket_text_and_binary_messages() -> None:
    text = decode_message('{"event": "page", "url": "https://x.org/therapy"}')
    assert value(text, "message.url") == "https://x.org/therapy"
    assert trail(text, "message.url") == ("json",)
    binary = decode_message(gzip.compress(b'[{"t": "input", "v": "my symptoms"}]'))
    assert value(binary, "message[0].v") == "my symptoms"
    assert trail(binary, "message[0].v") == ("gzip", "json")


def test_socket_io_packets_lose_their_numeric_prefix() -> None:
    decoded = decode_message('42["track",{"page":"/appointments"}]')
    assert value(decoded, "message[1].page") == "/appointments"
    assert trail(decoded, "message[1].page") == ("socketio", "json")


# -- limits ----------------------------------------------------------------------------------


def test_too_many_fields_stop_with_a_reason() -> None:
    body = json.dumps({f"k{i}": f"v{i}" for i in range(100)})
    decoded = decode_request(post("https://t.example/c", body), Limits(max_fields=10))
    assert len(decoded.fields) == 10
    assert decoded.truncated == "more than 10 fields"


def test_deep_nesting_is_cut_with_a_reason() -> None:
    body = "[" * 100 + '"x"' + "]" * 100
    decoded = decode_request(post("https://t.example/c", body), Limits(max_nesting=20))
    assert decoded.fields == ()
    assert decoded.truncated == "structure nested deeper than 20"


def test_stacked_encodings_stop_at_the_depth_limit() -> None:
    text = json.dumps({"secret": "hiv"})
    for _ in range(6):
        text = base64.b64encode(text.encode()).decode()
    shallow = decode_request(get(f"https://t.example/p?d={text}"), Limits(max_depth=3))
    assert "decoders nested deeper than 3" in (shallow.truncated or "")
    assert all(len(f.trail) <= 3 for f in shallow.fields)
    deep = decode_request(get(f"https://t.example/p?d={text}"))
    assert value(deep, "query.d.secret") == "hiv"
    assert len(trail(deep, "query.d.secret")) == 7


def test_long_values_and_paths_are_cut() -> None:
    limits = Limits(max_value_chars=50, max_path_chars=30)
    body = json.dumps({"k" * 100: "v" * 1000})
    decoded = decode_request(post("https://t.example/c", body), limits)
    (field,) = decoded.fields
    assert len(field.value) == 50 and len(field.path) == 30


def test_oversized_bodies_are_read_only_up_to_the_limit() -> None:
    body = "a=1&" + "b=2&" * 1000
    decoded = decode_request(post("https://t.example/c", body), Limits(max_body_bytes=100))
    assert decoded.truncated == "body larger than 100 bytes"
    assert 0 < len(decoded.fields) < 30


def test_the_time_limit_stops_long_work() -> None:
    body = "\n".join(json.dumps({"i": i, "v": "x" * 50}) for i in range(50_000))
    decoded = decode_request(post("https://t.example/c", body), Limits(max_seconds=0.001))
    assert decoded.truncated is not None and "longer than 0.001s" in decoded.truncated
    assert len(decoded.fields) < 100_000


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_fields must be positive"):
        Limits(max_fields=0)
    assert DEFAULT_LIMITS == Limits()


def test_a_decoder_bug_costs_only_that_part_of_the_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phitrace.decode import sniff

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(sniff.Decoder, "blob", broken)
    decoded = decode_request(
        post("https://t.example/c?q=1", "{}", ("Referer", "https://x.org/")), DEFAULT_LIMITS
    )
    assert decoded.truncated == "decoder error: KeyError"
    assert {f.path for f in decoded.fields} == {"query.q", "header.referer"}


USER = {"user": {"email": "jane@example.org", "page": "https://clinic.example/conditions/hiv"}}


def segment(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_base64url_json_path_segment_is_decoded_into_fields() -> None:
    decoded = decode_request(Request("GET", f"https://t.example/v1/{segment(USER)}/collect"))
    values = {f.path: (f.value, f.trail[-1]) for f in decoded.fields}
    assert values == {
        "path[2].user.email": ("jane@example.org", "json"),
        "path[2].user.page": ("https://clinic.example/conditions/hiv", "json"),
    }


def test_plain_and_opaque_path_segments_give_no_fields() -> None:
    url = (
        "https://cdn.t.example/assets/type-2-diabetes-care-plans/8f14e45fceea167a5a36dedd4bea2543/x"
    )
    assert decode_request(Request("GET", url)).fields == ()
