"""Signs of a logged-in page: document cookies and headers, tracker fields, portal paths."""

from __future__ import annotations

import pytest

from phitrace.detect.authenticated import (
    NO,
    YES,
    document_state,
    is_login,
    is_session_cookie,
    payload_state,
    portal_hint,
    set_cookie_names,
)
from phitrace.model import Field, Request


def page(*headers: tuple[str, str]) -> Request:
    return Request("GET", "https://portal.example.org/content?id=8812", headers)


@pytest.mark.parametrize(
    "name", ["JSESSIONID", "connect.sid", "PHPSESSID", ".AspNetCore.Cookies", "sid", "app_session"]
)
def test_framework_session_cookies_are_recognised(name: str) -> None:
    assert is_session_cookie(name)
    state = document_state(page(("Cookie", f"_ga=GA1.1.2; {name}=abc")), {})
    assert state.state == YES
    assert state.reason == f"session cookie '{name}' on the document request"


@pytest.mark.parametrize("name", ["_ga", "_fbp", "consent", "theme"])
def test_analytics_and_preference_cookies_do_not_make_a_login(name: str) -> None:
    assert not is_session_cookie(name)
    assert document_state(page(("Cookie", f"{name}=1")), {}) == (NO, None)


def test_a_cookie_set_by_an_earlier_login_response_is_the_reason() -> None:
    state = document_state(page(("Cookie", "pt=9f2")), {"pt": "POST /login"})
    assert state == (YES, "cookie 'pt' set by the login response to POST /login")


def test_an_authorization_header_makes_a_login() -> None:
    state = document_state(page(("Authorization", "Bearer eyJ.x.y")), {})
    assert state == (YES, "Authorization header (Bearer) on the document request")


def test_a_login_is_a_post_to_a_login_path_or_with_a_password() -> None:
    assert is_login(Request("POST", "https://p.example.org/signin"))
    assert is_login(Request("POST", "https://p.example.org/go"), ["user", "password"])
    assert not is_login(Request("POST", "https://p.example.org/go"), ["q"])
    assert not is_login(Request("GET", "https://p.example.org/login"))


def test_set_cookie_names_skip_deleted_cookies() -> None:
    headers = [("Set-Cookie", "pt=1; Path=/"), ("Set-Cookie", "old=; Max-Age=0")]
    assert set_cookie_names(headers) == ["pt"]


@pytest.mark.parametrize(
    ("vendor", "path", "value"),
    [
        ("adobe-analytics", "query.d.cid.ecid.as", "x"),
        ("adobe-websdk", "body.xdm.identityMap.ECID[0].authenticatedState", "authenticated"),
        ("microsoft-app-insights", "body[0].tags.ai.user.authUserId", "jane@example.org"),
        ("google-analytics", "query.uid", "member-42"),
        ("meta-pixel", "query.ud[external_id]", "7d1f"),
        ("adobe-analytics", "query.v12", "logged in"),
        ("third-party:example.net", "body.isLoggedIn", "true"),
    ],
)
def test_tracker_fields_reporting_a_login(vendor: str, path: str, value: str) -> None:
    state = payload_state([Field(path, value)], vendor)
    if path.endswith(".as"):  # an Adobe field that only looks short: not a login
        assert state is None
    else:
        assert state is not None and state.state == YES and path in (state.reason or "")


def test_a_user_id_key_counts_only_for_the_vendor_whose_convention_it_is() -> None:
    assert payload_state([Field("query.uid", "abc")], "matomo") is None
    assert payload_state([Field("body.isLoggedIn", "false")], None) is None
    assert payload_state([Field("body.authenticatedState", "loggedOut")], None) is None


def test_portal_paths_are_a_weak_signal_only() -> None:
    hint = portal_hint("https://health.example.org/MyChart/Home")
    assert hint is not None and "/mychart/" in hint and "weak" in hint
    assert portal_hint("https://health.example.org/conditions") is None
