"""A finding's channel is read off its path's first segment."""

from __future__ import annotations

import pytest

from phitrace.detect.channels import channel_of


@pytest.mark.parametrize(
    ("path", "channel"),
    [
        ("query.q", "query"),
        ("query", "query"),
        ("body.events[0].url", "body"),
        ("body", "body"),
        ("body.strings[2]", "body"),
        ("header.referer", "header.referer"),
        ("header.X-User", "header.x-user"),
        ("cookie._ga", "cookie"),
        ("path[3].user.email", "path"),
        ("path.jsessionid", "path"),
        ("fragment", "fragment"),
        ("message.data", "message"),
        ("url (decoded)", "url"),
    ],
)
def test_channel_is_the_first_segment_of_the_path(path: str, channel: str) -> None:
    assert channel_of(path) == channel
