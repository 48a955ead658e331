"""Canaries: every transform chain is found and named."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from phitrace.analyzer import Analyzer
from phitrace.catalogue.loader import load_catalogue
from phitrace.decode.textcodecs import embedded_base64
from phitrace.detect.canaries import (
    ENCODERS,
    NO_CANARIES,
    Canaries,
    CanaryError,
    find_canaries,
    forms,
    load_canaries,
    parse_canaries,
)
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import Field, Request

EMAIL = "Jane.Canary@Example.org"
PERSONA = {
    "email": EMAIL,
    "phone": "+1 555 555 0123",
    "name": "Jane Canary",
    "date_of_birth": "1984-03-07",
    "member_id": "XJH~~~123456789",
    "drug": "Metformin",
}


@pytest.fixture(scope="module")
def canaries() -> Canaries:
    return parse_canaries({"canaries": PERSONA})


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def chains(canaries: Canaries, url: str, body: str = "", name: str = "email") -> set[str]:
    request = Request("POST" if body else "GET", url, body=body.encode())
    return {f.matched for f in find_canaries(request, [], canaries) if f.category == name}


LOWER = EMAIL.lower()
CHAINS = [
    # (canary, text planted in the request, expected chain)
    ("email", EMAIL, "raw"),
    ("email", LOWER, "raw"),  # plain text matches case-insensitively
    ("email", quote(EMAIL, safe=""), "url(raw)"),
    ("email", quote(quote(EMAIL, safe=""), safe=""), "url(url(raw))"),
    ("email", b64(EMAIL.encode()), "base64(raw)"),
    ("member_id", b64url(b"XJH~~~123456789"), "base64url(raw)"),  # "-" where base64 has "+"
    ("member_id", b64(b"XJH~~~123456789"), "base64(raw)"),
    ("email", EMAIL.encode().hex(), "hex(raw)"),
    ("email", hashlib.md5(EMAIL.encode()).hexdigest(), "md5(raw)"),
    ("email", hashlib.md5(LOWER.encode()).hexdigest(), "md5(lower(trim))"),
    ("email", hashlib.sha1(LOWER.encode()).hexdigest(), "sha1(lower(trim))"),
    ("email", sha256(EMAIL), "sha256(raw)"),
    ("email", sha256(LOWER), "sha256(lower(trim))"),  # Meta advanced matching
    ("email", sha256(LOWER).upper(), "sha256(lower(trim))"),
    ("email", hashlib.sha512(LOWER.encode()).hexdigest(), "sha512(lower(trim))"),
    ("email", b64url(hashlib.sha256(LOWER.encode()).digest()), "sha256_b64url(lower(trim))"),
    ("email", b64(hashlib.sha256(LOWER.encode()).digest()), "sha256_b64(lower(trim))"),
    ("email", b64(sha256(LOWER).encode()), "base64(sha256(lower(trim)))"),
    ("email", quote(b64(EMAIL.encode()), safe=""), "url(base64(raw))"),
    ("email", sha256(b64(EMAIL.encode())), "sha256(base64(raw))"),
    ("email", hashlib.md5(EMAIL.encode().hex().encode()).hexdigest(), "md5(hex(raw))"),
    ("email", sha256(sha256(LOWER)), "sha256(sha256(lower(trim)))"),
    ("phone", sha256("15555550123"), "sha256(cc_digits)"),  # Meta: digits with country code
    ("phone", sha256("+15555550123"), "sha256(e164)"),  # Google: E.164
    ("phone", "5555550123", "national"),
    ("phone", quote("+1 555 555 0123", safe=""), "url(raw)"),
    ("name", "janecanary", "nospace(lower(trim))"),
    ("name", "Jane+Canary", "url_plus(raw)"),
    ("name", sha256("jane"), "sha256(first(lower(trim)))"),  # Meta fn
    ("name", sha256("canary"), "sha256(last(lower(trim)))"),  # Meta ln
    ("date_of_birth", sha256("19840307"), "sha256(yyyymmdd)"),  # Meta db
    ("date_of_birth", "03/07/1984", "mm/dd/yyyy"),
    ("drug", "METFORMIN", "raw"),
]


@pytest.mark.parametrize(("name", "planted", "chain"), CHAINS, ids=[c[2] for c in CHAINS])
def test_every_transform_chain_is_found_and_named(
    canaries: Canaries, name: str, planted: str, chain: str
) -> None:
    assert chain in chains(canaries, f"https://t.example/c?x={planted}&y=1", name=name)


def test_whitespace_is_normalised(canaries: Canaries) -> None:
    spaced = parse_canaries({"canaries": {"name": "  Jane   Canary "}})
    assert "collapse(lower(trim))" in chains(
        spaced, "https://t.example/?n=jane canary", name="name"
    )


def test_gmail_addresses_are_also_searched_without_dots() -> None:
    gmail = parse_canaries({"canaries": {"email": "Jane.Canary+qa@gmail.com"}})
    assert chains(gmail, "https://t.example/?h=" + sha256("janecanary@gmail.com")) == {
        "sha256(gmail(lower(trim)))"
    }


def test_a_value_inside_a_larger_base64_document_is_found(canaries: Canaries) -> None:
    for prefix in ("", "x", "xy"):
        document = json.dumps({"pad": prefix, "user": {"email": LOWER}}).encode()
        # Where the value's own characters hold no "+" or "/", both alphabets agree.
        either = {"base64url(lower(trim))", "base64(lower(trim))"}
        assert either & chains(canaries, "https://t.example/?d=" + b64(document))
        assert either & chains(canaries, "https://t.example/?d=" + b64url(document))
    assert all(piece in b64(b"ab" + LOWER.encode()) for piece in embedded_base64(LOWER)[2:])


def test_a_hit_names_the_decoded_field_rather_than_the_raw_url(canaries: Canaries) -> None:
    url = "https://t.example/tr?ud[em]=" + sha256(LOWER)
    request = Request("GET", url)
    fields = [Field("query.ud[em]", sha256(LOWER))]
    (finding,) = find_canaries(request, fields, canaries)
    assert finding.kind == "canary" and finding.category == "email"
    assert (finding.path, finding.trail) == ("query.ud[em]", ())
    assert finding.field == "query.ud[em]" and finding.value == sha256(LOWER)
    assert finding.rule == "canary:sha256"
    assert finding.reason == "test-persona value 'email' found as sha256(lower(trim))"


def test_headers_and_bodies_are_searched(canaries: Canaries) -> None:
    request = Request(
        "POST",
        "https://t.example/collect",
        headers=(("X-User", b64(b"XJH~~~123456789")),),
        body=json.dumps({"q": "metformin 500mg"}).encode(),
    )
    found = {(f.category, f.field, f.matched) for f in find_canaries(request, [], canaries)}
    assert ("member_id", "header.x-user", "base64(raw)") in found
    assert ("drug", "body", "raw") in found


def test_requests_without_the_persona_have_no_canaries(canaries: Canaries) -> None:
    request = Request("GET", "https://t.example/?q=jane+doe&h=" + sha256("someone@else.org"))
    assert find_canaries(request, [], canaries) == []
    assert find_canaries(Request("GET", "https://t.example/?e=" + EMAIL), [], NO_CANARIES) == []


def test_needles_are_precomputed_once_and_bounded(canaries: Canaries) -> None:
    assert not NO_CANARIES and canaries
    per_value = len(canaries.needles) / len(PERSONA)
    assert 50 < per_value < 1000
    assert canaries.automata() is canaries.automata()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"email": "x@y.org"}, "expected a mapping 'canaries:"),
        ({"canaries": {"Email": "x@y.org"}}, "must be a lower-case identifier"),
        ({"canaries": {"pin": "123"}}, "too short to search for safely"),
        ({"canaries": {"list": ["a", "b"]}}, "must be a single value"),
    ],
)
def test_invalid_personas_are_refused_with_the_reason(document: object, message: str) -> None:
    with pytest.raises(CanaryError, match=message):
        parse_canaries(document)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("robin.canary@example.org", "email"),
        ("+1 (555) 555-0123", "phone"),
        ("5555550123", "phone"),
        ("1984-03-07", "date_of_birth"),
        ("Metformin", "other"),
        ("MBR-77123", "other"),
    ],
)
def test_a_plain_canary_takes_its_kind_from_its_value_never_its_name(value: str, kind: str) -> None:
    for name in ("test_email", "lab_result", "plan_member_id", "drug"):
        assert parse_canaries({"canaries": {name: value}}).kinds == {name: kind}


def test_a_canary_may_declare_its_kind() -> None:
    persona = {
        "plan_member_id": {"value": "MBR-77", "kind": "member_id"},
        "drug": {"value": "Metformin", "kind": "health"},
        "contact": {"value": "robin.canary@example.org"},
    }
    parsed = parse_canaries({"canaries": persona})
    assert parsed.values == {
        "plan_member_id": "MBR-77",
        "drug": "Metformin",
        "contact": "robin.canary@example.org",
    }
    assert parsed.kinds == {"plan_member_id": "member_id", "drug": "health", "contact": "email"}
    request = Request("GET", "https://t.example/?q=metformin")
    (finding,) = find_canaries(request, [], parsed)
    assert (finding.category, finding.canary_kind) == ("drug", "health")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"value": "Metformin", "kind": "drug"},
            "persona.yaml: canary 'med' has kind 'drug'; expected one of email, phone,",
        ),
        ({"kind": "health"}, "persona.yaml: canary 'med' needs a 'value'"),
        (
            {"value": "Metformin", "sort": "health"},
            "persona.yaml: canary 'med' has unknown key(s) sort; use 'value' and 'kind'",
        ),
    ],
)
def test_a_bad_canary_entry_is_refused_in_one_line_naming_file_and_canary(
    entry: object, message: str
) -> None:
    with pytest.raises(CanaryError) as caught:
        parse_canaries({"canaries": {"med": entry}}, "persona.yaml")
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_persona_file_is_loaded_and_a_broken_one_explained(tmp_path: Path) -> None:
    good = tmp_path / "c.yaml"
    good.write_text("canaries: {email: robin.canary@example.org}\n", encoding="utf-8")
    assert load_canaries(good).values == {"email": "robin.canary@example.org"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("canaries: [\n", encoding="utf-8")
    with pytest.raises(CanaryError, match="cannot read canaries file"):
        load_canaries(bad)


def test_undecodable_bytes_beside_a_canary_do_not_hide_it(canaries: Canaries) -> None:
    # A URL decoded with surrogateescape keeps bad bytes as lone surrogates.
    url = "https://t.example/p?x=\udcff\udc80&em=" + quote(EMAIL)
    found = {(f.category, f.matched) for f in find_canaries(Request("GET", url), [], canaries)}
    assert ("email", "raw") in found


ENCODE = {name: encode for name, encode, _ in ENCODERS}


def apply_chain(chain: str, value: str) -> str:
    """Recompute the text a chain such as ``sha256(url(lower(trim)))`` names, from the value."""
    encoders: list[str] = []
    rest = chain
    while True:
        head, bracket, inner = rest.partition("(")
        if not bracket or head not in ENCODE:
            break
        encoders.append(head)
        rest = inner.removesuffix(")")
    text = forms(value)[rest][0]
    for name in reversed(encoders):
        text = ENCODE[name](text)
    return text


def test_apply_chain_recomputes_named_chains() -> None:
    assert apply_chain("raw", EMAIL) == EMAIL
    assert apply_chain("lower(trim)", EMAIL) == LOWER
    assert apply_chain("sha256(lower(trim))", EMAIL) == sha256(LOWER)
    assert apply_chain("url(base64(raw))", EMAIL) == quote(b64(EMAIL.encode()), safe="")


LAYERS = [(outer, inner) for outer in ENCODE for inner in [None, *ENCODE]]


@pytest.mark.parametrize("form", ["raw", "lower(trim)"])
@pytest.mark.parametrize(("outer", "inner"), LAYERS, ids=[f"{o}-{i}" for o, i in LAYERS])
def test_every_encoder_and_every_two_layer_combination_is_found(
    canaries: Canaries, form: str, outer: str, inner: str | None
) -> None:
    value = forms(EMAIL)[form][0]
    planted = ENCODE[outer](value if inner is None else ENCODE[inner](value))
    found = find_canaries(Request("GET", f"https://t.example/c?x={planted}&y=1"), [], canaries)
    # Identical texts are named by their simplest chain (url(hex(x)) is hex(x)), and
    # text that is not base64 matches whatever its case (url(raw) names url(lower(trim))):
    # so the check is that some reported chain recomputes what was sent.
    assert any(
        f.category == "email" and same(apply_chain(f.matched, EMAIL), planted, f.matched)
        for f in found
    ), [(f.field, f.matched) for f in found]


def same(expected: str, sent: str, chain: str) -> bool:
    outer = chain.split("(")[0]
    exact = next((cased for name, _, cased in ENCODERS if name == outer), False)
    return expected == sent if exact else expected.lower() == sent.lower()


def test_meta_advanced_matching_hashes_are_canaries_and_hashed_identifiers() -> None:
    persona = parse_canaries({"canaries": {"email": EMAIL, "phone": "+1 (555) 555-0123"}})
    analyzer = Analyzer(load_catalogue(), load_vocabulary(), persona)
    url = (
        "https://www.facebook.com/tr/?id=1&ev=Lead&dl=https%3A%2F%2Fclinic.example%2F"
        f"&ud[em]={sha256(LOWER)}&ud[ph]={sha256('15555550123')}&fbp=fb.1.1.2"
    )
    analysis = analyzer.analyse(Request("GET", url))
    found = {(f.kind, f.category, f.matched) for f in analysis.findings}
    assert ("canary", "email", "sha256(lower(trim))") in found
    assert ("canary", "phone", "sha256(cc_digits)") in found
    categories = {f.category for f in analysis.findings if f.kind == "identifier"}
    assert {"hashed_email", "hashed_phone"} <= categories


@pytest.mark.parametrize(
    ("url", "headers", "body", "path"),
    [
        (
            "https://t.example/collect",
            (("Cookie", "_ga=GA1.1.1; jane.canary%40example.org=1"),),
            "",
            "cookie.jane.canary%40example.org",
        ),
        ("https://t.example/collect?jane.canary%40example.org=1", (), "", None),
        (
            "https://t.example/collect",
            (("Content-Type", "application/x-www-form-urlencoded"),),
            "v=2&jane.canary%40example.org=1",
            None,
        ),
        (
            "https://t.example/collect",
            (("Content-Type", "application/json"),),
            json.dumps({"traits": {"jane.canary@example.org": "1"}}),
            None,
        ),
    ],
    ids=["cookie", "query", "form", "json"],
)
def test_a_canary_used_as_a_key_is_found_and_named_by_the_key(
    canaries: Canaries, url: str, headers: tuple[tuple[str, str], ...], body: str, path: str | None
) -> None:
    from phitrace.decode.request import decode_request

    request = Request("POST" if body else "GET", url, headers=headers, body=body.encode())
    fields = decode_request(request).fields
    [keyed] = [f for f in fields if "jane.canary" in f.path]
    found = [f for f in find_canaries(request, fields, canaries) if f.category == "email"]
    assert [(f.path, f.trail) for f in found] == [(path or keyed.path, keyed.trail)]
    assert "key" in found[0].reason
