"""Global Privacy Control: the signal on one request, and a session's summary."""

from __future__ import annotations

import pytest

from phitrace.detect.gpc import MIXED, NOT_SENT, SENT, gpc_of, gpc_summary


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((("Sec-GPC", "1"),), 1),
        ((("User-Agent", "x"), ("sec-gpc", " 1 ")), 1),
        ((("User-Agent", "x"),), 0),
        ((("Sec-GPC", "0"),), 0),  # only "1" is the signal
        ((("Sec-GPC", "true"),), 0),
        ((), None),  # headers not captured: unknown, not "not sent"
    ],
)
def test_a_request_carries_gpc_only_with_the_value_one(
    headers: tuple[tuple[str, str], ...], expected: int | None
) -> None:
    assert gpc_of(headers) == expected


@pytest.mark.parametrize(
    ("sent", "not_sent", "expected"),
    [(3, 0, SENT), (2, 1, MIXED), (0, 4, NOT_SENT), (0, 0, None)],
)
def test_a_session_is_sent_mixed_or_not_sent(sent: int, not_sent: int, expected: str) -> None:
    assert gpc_summary(sent, not_sent) == expected
