"""What phitrace analyses and records: pages of the audited domains, flows matching a filter."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mitmproxy import flowfilter, http

from phitrace import urls


def parse_domains(values: Iterable[str]) -> tuple[str, ...]:
    """Domains from option values; each value may also list several, comma-separated."""
    return tuple(
        d.strip().lower().lstrip(".") for value in values for d in value.split(",") if d.strip()
    )


def parse_filter(expression: str) -> flowfilter.TFilter | None:
    """A compiled flowfilter, None for an empty expression; ValueError when it does not parse."""
    if not expression.strip():
        return None
    return flowfilter.parse(expression)


@dataclass(frozen=True)
class Scope:
    """Limits what is analysed and recorded; never whether a tracker is sinkholed.

    ``domains`` are page domains (subdomains included): a flow is in scope when
    the page it came from is within one of them, or its page is unknown.
    ``matches`` is a compiled mitmproxy flowfilter the flow itself must match.
    With both, a flow must pass both.
    """

    domains: tuple[str, ...] = ()
    expression: str = ""
    matches: flowfilter.TFilter | None = None

    def covers(self, flow: http.HTTPFlow, page: str | None) -> bool:
        """True when the flow, made from ``page``, is to be analysed."""
        if self.matches is not None and not self.matches(flow):
            return False
        if not self.domains or not page:
            return True
        host = urls.host_of(page)
        return any(urls.within(host, d) for d in self.domains)

    def describe(self) -> str:
        """The scope as stored on the recording session: domains, then the filter."""
        text = ",".join(self.domains)
        if self.expression:
            text = f"{text} filter {self.expression}".strip()
        return text
