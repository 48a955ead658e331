"""Global Privacy Control: whether a request carried ``Sec-GPC: 1``, and a session's summary.

A browser with GPC turned on sends ``Sec-GPC: 1`` on every request; any other
value means no signal.  A request whose headers were not captured (a HAR
exported without them) tells nothing, so its state is unknown, not "not sent".
"""

from __future__ import annotations

from collections.abc import Iterable

GPC_HEADER = "sec-gpc"

SENT = "sent"
"""Every request of the session whose headers are known carried ``Sec-GPC: 1``."""
MIXED = "mixed"
"""Some requests carried it and some did not (the setting changed, or an SDK left it out)."""
NOT_SENT = "not sent"
"""No request of the session carried it."""


def gpc_of(headers: Iterable[tuple[str, str]]) -> int | None:
    """1 when the headers hold ``Sec-GPC: 1``, 0 when they do not, None when none were captured."""
    seen = False
    for name, value in headers:
        seen = True
        if name.lower() == GPC_HEADER and value.strip() == "1":
            return 1
    return 0 if seen else None


def gpc_summary(sent: int, not_sent: int) -> str | None:
    """A session's GPC state from how many requests carried the signal and how many did not."""
    if sent and not_sent:
        return MIXED
    if sent:
        return SENT
    return NOT_SENT if not_sent else None
