"""Link health data to identifiers across the requests of one session.

A tracker that receives a health page view with its cookie id in one request
and an e-mail hash with the same cookie id in another has linked the two,
even though neither request holds both.  :class:`Linker` remembers, per
vendor and identifier value (a client id, user id, hashed e-mail…), which
identifier categories and which health findings it has seen, and tells the
caller when the current request completes a link:

- a request with health data whose ids were seen earlier with other
  identifiers (an e-mail, a user id) is linked to those identifiers;
- a request with a personal identifier whose ids were seen earlier with
  health data links that health data to the person.

State is bounded (least recently used ids are forgotten) and holds only
categories and canonical terms, never values other than the ids themselves.
It is pure Python with no I/O; one linker serves one capture session.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from phitrace.model import Finding

LINK_KEYS = frozenset(
    {"device_id", "user_id", "hashed_email", "hashed_phone", "email", "phone", "member_id"}
)
"""Identifier categories whose values tie requests of one vendor together."""

PSEUDONYMOUS = frozenset({"device_id"})
"""Identifiers that link requests but do not name a person on their own."""

MAX_KEYS = 20_000
MAX_HEALTH = 32


@dataclass
class _Seen:
    identifiers: set[str] = field(default_factory=set)
    health: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Link:
    """Why a request is linked to data seen in other requests of the session."""

    vendor: str
    via: str
    identifiers: tuple[str, ...] = ()
    health: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        """A sentence for the finding's reason column."""
        if self.identifiers:
            return (
                f"linked by {self.vendor}'s {self.via} to {', '.join(self.identifiers)} "
                "sent in other requests of this session"
            )
        shown = ", ".join(self.health[:5]) + (" …" if len(self.health) > 5 else "")
        return (
            f"linked by {self.vendor}'s {self.via} to health data sent in other requests "
            f"of this session ({shown})"
        )


def _keys(vendor: str, findings: Sequence[Finding]) -> list[tuple[str, str, str]]:
    keys = []
    for f in findings:
        if f.kind == "identifier" and f.category in LINK_KEYS and len(f.value) >= 4:
            keys.append((vendor, f.value, f.category.replace("_", " ")))
    return keys


class Linker:
    """Session memory of which vendor ids travelled with identifiers and health data."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._seen: OrderedDict[tuple[str, str], _Seen] = OrderedDict()

    def __len__(self) -> int:
        return len(self._seen)

    def clear(self) -> None:
        """Forget everything (a new capture session starts)."""
        self._seen.clear()

    def observe(self, vendor: str | None, findings: Sequence[Finding]) -> Link | None:
        """Record a request's ids, identifiers and health findings; return its link, if any."""
        if vendor is None:
            return None
        keys = _keys(vendor, findings)
        if not keys:
            return None
        here_ids = {f.category for f in findings if f.kind in ("identifier", "canary")}
        here_health = [f"{f.category}:{f.matched}" for f in findings if f.kind == "health"]
        prior_ids: set[str] = set()
        prior_health: list[str] = []
        for vendor_, value, _ in keys:
            seen = self._seen.get((vendor_, value))
            if seen is not None:
                prior_ids |= seen.identifiers
                prior_health.extend(h for h in seen.health if h not in prior_health)
        link = self._link(vendor, keys, here_ids, here_health, prior_ids, prior_health)
        self._remember(keys, here_ids, here_health)
        return link

    @staticmethod
    def _link(
        vendor: str,
        keys: list[tuple[str, str, str]],
        here_ids: set[str],
        here_health: list[str],
        prior_ids: set[str],
        prior_health: list[str],
    ) -> Link | None:
        via = keys[0][2]
        if here_health:
            others = sorted(prior_ids - here_ids - PSEUDONYMOUS)
            if others:
                return Link(vendor, via, identifiers=tuple(others))
            return None
        personal = here_ids - PSEUDONYMOUS
        if personal and prior_health:  # here_health is empty on this path
            return Link(vendor, via, health=tuple(prior_health))
        return None

    def _remember(
        self, keys: Iterable[tuple[str, str, str]], ids: set[str], health: list[str]
    ) -> None:
        for vendor, value, _ in keys:
            key = (vendor, value)
            seen = self._seen.get(key)
            if seen is None:
                seen = self._seen[key] = _Seen()
            else:
                self._seen.move_to_end(key)
            seen.identifiers |= ids
            for item in health:
                if item not in seen.health and len(seen.health) < MAX_HEALTH:
                    seen.health.append(item)
        while len(self._seen) > self.max_keys:
            self._seen.popitem(last=False)
