"""Block decisions and redaction, as pure functions."""

from __future__ import annotations

import base64
import gzip
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from phitrace.act.enforce import redact, should_block
from phitrace.model import Analysis, Finding, Request


def finding(field: str, kind: str = "health", value: str = "x") -> Finding:
    """A finding at ``path [trail]``, written here as the ``findings.field`` column shows it."""
    path, _, trail = field.partition(" [")
    decoders = tuple(trail.rstrip("]").split(">")) if trail else ()
    return Finding(kind, "condition", path, value, "diabetes", "r", "high", trail=decoders)


def test_blocking_follows_the_severity_threshold() -> None:
    request = Request("GET", "https://t.example/")
    medium = Analysis(request, "v", severity="medium")
    assert should_block(medium, "medium") and should_block(medium, "low")
    assert not should_block(medium, "high")
    assert not should_block(Analysis(request, None, severity="high"), "low")


def test_query_parameters_with_dots_and_brackets_are_blanked_and_others_kept() -> None:
    request = Request("GET", "https://t.example/c?v=2&ep.search_term=hiv%20test&cd[x]=a&tid=G-1")
    result = redact(request, [finding("query.ep.search_term"), finding("query.cd[x].inner [json]")])
    assert result.url == "https://t.example/c?v=2&ep.search_term=&cd[x]=&tid=G-1"
    assert result.removed == ("query.cd[x]", "query.ep.search_term")


def test_untouched_requests_keep_their_exact_bytes() -> None:
    request = Request("POST", "https://t.example/c?a=b+c%20d", body=b"k=v%20w")
    result = redact(request, [finding("query.zzz")])
    assert not result.changed
    assert result.url == request.url and result.body == request.body


def test_json_bodies_are_blanked_at_the_field_path() -> None:
    body = json.dumps({"events": [{"page": {"url": "https://x/diabetes", "id": 7}}]}).encode()
    request = Request("POST", "https://t.example/e", body=body)
    result = redact(request, [finding("body.events[0].page.url [json]")])
    assert json.loads(result.body) == {"events": [{"page": {"url": "", "id": 7}}]}
    assert result.removed == ("body.events[0].page.url [json]".split(" [")[0],)


def test_batched_form_lines_are_blanked_per_line() -> None:
    request = Request(
        "POST",
        "https://t.example/g/collect",
        body=b"en=page_view\r\nen=search&ep.search_term=diabetes",
    )
    result = redact(request, [finding("body.line[1].ep.search_term [lines>form]")])
    assert result.body == b"en=page_view\r\nen=search&ep.search_term="


def test_referer_is_cut_to_its_origin_and_canary_values_are_stripped_everywhere() -> None:
    request = Request(
        "POST",
        "https://t.example/c?e=jane%40example.org",
        (("Referer", "https://portal.example.org/conditions/diabetes"),),
        b"payload jane@example.org end",
    )
    result = redact(
        request,
        [
            finding("header.referer"),
            finding("url", kind="canary", value="jane%40example.org"),
            finding("body", kind="canary", value="jane@example.org"),
        ],
    )
    assert dict(result.headers)["Referer"] == "https://portal.example.org/"
    assert "jane" not in result.url and b"jane" not in result.body
    assert "canary values" in result.removed


def test_floodlight_path_parameters_are_blanked() -> None:
    request = Request("GET", "https://ad.doubleclick.net/activity;src=1;u1=cardiology;ord=2?")
    result = redact(request, [finding("path.u1")])
    assert result.url.startswith("https://ad.doubleclick.net/activity;src=1;u1=;ord=2")


HEALTH_FORM = b"v=2&tid=G-1&dl=https%3A%2F%2Fwww.example.org%2Fconditions%2Fdiabetes"


def test_a_raw_gzip_body_is_removed_whole_and_the_redaction_says_so() -> None:
    # As PostHog and Clarity send it: gzip bytes without Content-Encoding.
    request = Request("POST", "https://t.example/e?v=2", body=gzip.compress(HEALTH_FORM))
    result = redact(request, [finding("body.dl [gzip>form]")])
    assert result.body == b""
    assert result.removed == ("body",)
    assert result.url == request.url


def test_a_body_whose_finding_cannot_be_located_is_removed_whole() -> None:
    encoded = base64.b64encode(HEALTH_FORM)
    request = Request("POST", "https://t.example/e", body=encoded)
    result = redact(request, [finding("body.dl [base64>form]")])
    assert result.body == b"" and "body" in result.removed


def test_a_canary_hidden_by_an_encoding_takes_the_body_with_it() -> None:
    request = Request("POST", "https://t.example/e", body=gzip.compress(b"e=jane@example.org"))
    result = redact(
        request, [finding("body.e [gzip>form]", kind="canary", value="jane@example.org")]
    )
    assert result.body == b"" and "body" in result.removed


def test_raw_bytes_in_the_url_go_back_out_as_the_same_bytes() -> None:
    request = Request("GET", "https://t.example/c?x=\udc9b&q=diabetes")
    result = redact(request, [finding("query.q")])
    assert result.url == "https://t.example/c?x=%9B&q="


@settings(max_examples=300, deadline=None)
@given(
    body=st.binary(max_size=200) | st.text(max_size=80).map(lambda t: t.encode("utf-8", "replace")),
    query=st.text(max_size=40),
    path=st.sampled_from(["body", "body.a", "body.line[1].a", "body.x[0].y", "query.a"]),
)
def test_redaction_never_raises_and_never_forwards_a_body_finding_it_could_not_locate(
    body: bytes, query: str, path: str
) -> None:
    request = Request("POST", f"https://t.example/e?a={query}", body=body)
    result = redact(request, [finding(path)])
    if path.startswith("body") and body:
        whole = result.body == b"" and "body" in result.removed
        located = any(path == r or path.startswith((r + ".", r + "[")) for r in result.removed)
        assert whole or located, (body, result)
