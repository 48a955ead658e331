"""The fast URL splitter used for matching reads every URL as urlsplit does."""

from __future__ import annotations

from urllib.parse import urlsplit

from hypothesis import example, given
from hypothesis import strategies as st

from phitrace.catalogue.matcher import split_url

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
