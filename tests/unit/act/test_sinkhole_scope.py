"""Which requests the sinkhole answers, by scope, and how it answers a third party's preflight."""

from __future__ import annotations

import pytest

from phitrace.act.sinkhole import answer, answers
from phitrace.model import Request

PAGE = "https://portal.example/conditions/type-2-diabetes"


def third_party(method: str, dest: str, mode: str = "cors", **extra: str) -> Request:
    headers = {"origin": "https://portal.example", "referer": "https://portal.example/"}
    headers |= {"sec-fetch-dest": dest, "sec-fetch-mode": mode, **extra}
    return Request(method, "https://api.aptabase.com/api/v0/event", tuple(headers.items()))


PREFLIGHT = third_party("OPTIONS", "empty", **{"access-control-request-method": "POST"})
POST = Request(**{**third_party("POST", "empty").__dict__, "body": b'{"eventName":"x"}'})
SCRIPT = third_party("GET", "script", "no-cors")


@pytest.mark.parametrize(
    ("request_", "scope", "expected"),
    [
        (PREFLIGHT, "third-party", True),
        (POST, "third-party", True),
        (SCRIPT, "third-party", False),
        (PREFLIGHT, "catalogue", False),
        (POST, "catalogue", False),
        (SCRIPT, "all", True),
    ],
)
def test_scope_decides_what_an_unlisted_third_party_gets_answered(
    request_: Request, scope: str, expected: bool
) -> None:
    assert answers(request_, False, scope) is expected


def test_catalogued_trackers_are_answered_in_every_scope() -> None:
    assert all(answers(SCRIPT, True, scope) for scope in ("third-party", "catalogue", "all"))


def test_first_party_requests_are_never_answered() -> None:
    own = Request("POST", "https://portal.example/api", (("origin", "https://portal.example"),))
    assert not answers(own, False, "all")


def test_preflight_echoes_origin_and_allows_the_requested_headers_and_methods() -> None:
    asked = {"access-control-request-method": "PUT", "access-control-request-headers": "App-Key"}
    headers = dict(answer(third_party("OPTIONS", "empty", **asked)).headers)
    assert headers["Access-Control-Allow-Origin"] == "https://portal.example"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Headers"] == "App-Key"
    assert headers["Access-Control-Allow-Methods"] == "PUT"
