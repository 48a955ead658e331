"""The channel a finding travelled by: the query, the body, a header, a cookie, the path…

A finding's structured ``path`` starts with where in the request its value
was (``query.q``, ``body.events[0].url``, ``header.referer``, ``cookie._ga``),
so the channel is read off that first segment, here and only here.
"""

from __future__ import annotations

import re

CHANNELS: tuple[str, ...] = ("query", "body", "path", "fragment", "cookie", "message")
"""Channels named by the path's first segment alone; headers are ``header.<name>``."""

_FIRST = re.compile(r"[.\[ ]")


def channel_of(path: str) -> str:
    """``query``, ``body``, ``path``, ``fragment``, ``cookie``, ``message``, ``header.<name>``.

    Canary hits in the raw URL (path ``url``, ``url (decoded)``) have channel
    ``url``; an empty or unknown first segment is returned as it is.
    """
    head, sep, rest = path.partition(".")
    if head == "header" and sep:
        return "header." + _FIRST.split(rest, 1)[0].lower()
    return _FIRST.split(path, 1)[0]
