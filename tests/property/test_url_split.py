"""The fast URL splitter used for matching reads every URL as urlsplit does."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from phitrace.catalogue.matcher import split_url
from phitrace.urls import parse_url, split

_HOST = st.from_regex(r"[A-Za-z0-9-]{1,12}(\.[A-Za-z0-9-]{1,12}){0,3}", fullmatch=True)
_PART = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
_URL = st.builds(
    lambda scheme, userinfo, host, port, path, query, fragment: (
        f"{scheme}://{userinfo}{host}{port}{path}{query}{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTPS", "wss", "ftp"]),
    st.sampled_from(["", "user@", "u:p@"]),
    _HOST,
    st.sampled_from(["", ":443", ":8080", ":"]),
    _PART.map(lambda p: "/" + p if p else ""),
    _PART.map(lambda q: "?" + q if q else ""),
    _PART.map(lambda f: "#" + f if f else ""),
)


def _reference(url: str) -> tuple[str, str, str] | None:
    try:
        parts = urlsplit(url)
        return parts.hostname or "", parts.path or "/", parts.query
    except ValueError:
        return None


@given(_URL | st.text(max_size=60))
@example("https://WWW.Example.ORG:8443/p?q=1#f")
@example("https://[::1]:8080/x")
@example("http://a.example/p\t?q")
def test_split_url_agrees_with_urlsplit(url: str) -> None:
    assert split_url(url) == _reference(url)


def _reference_url(text: str) -> tuple[object, ...]:
    """What ``parse_url`` read before it had a fast path: ``urlsplit`` and its properties."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return (text, "", "", None, "", "", "")
    try:
        host, port = (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        host, port = "", None
    return (text, parts.scheme.lower(), host, port, parts.path, parts.query, parts.fragment)


_PORT = st.sampled_from(["", ":443", ":8080", ":", ":99999", ":x", ":08", ":1:2"])
_ANY_URL = st.builds(
    lambda scheme, host, port, path, query, fragment: (
        f"{scheme}://{host}{port}{path}{query}{fragment}"
    ),
    st.sampled_from(["http", "https", "HTTP", "ws"]),
    _HOST.map(lambda h: h + "." if len(h) % 3 == 0 else h),
    _PORT,
    _PART.map(lambda p: "/" + p if p else ""),
    _PART.map(lambda q: "?" + q if q else ""),
    _PART.map(lambda f: "#" + f if f else ""),
)


@given(_URL | _ANY_URL | st.text(max_size=60))
@example("https://Portal.Example.org.:8443/p?q=1?r#f?g#h")
@example("https://a.example:99999/")
@example("http://a.example#x?y")
@example("http:///p")
def test_parse_url_agrees_with_urlsplit(url: str) -> None:
    assert tuple(parse_url(url)) == _reference_url(url)
    try:
        reference = tuple(urlsplit(url))
    except ValueError:
        reference = ("",) * 5
    assert tuple(split(url)) == reference
