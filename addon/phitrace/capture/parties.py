"""Who a request goes to and what kind of request it is: third parties, beacons and assets.

"Where did this patient's data go?" counts every recipient, catalogued or not.
A request is third-party when its host's registrable domain differs from its
page's (the page as captured, else ``Referer``, else ``Origin``).  What kind of
request it is decides what phitrace keeps and, in sinkhole mode, what it
answers: a beacon (a CORS preflight, a POST, ``sendBeacon``, ``<a ping>``, a
pixel or fetch with a query) carries data out; a script, style sheet or font
without data is the page loading its parts.  Pure functions over a
:class:`~phitrace.model.Request`; the per-session inventory of third parties
is plain data kept on the :class:`~phitrace.session.Session`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phitrace import urls
from phitrace.model import Request

ASSET_KINDS = frozenset({"script", "style", "font", "image", "media", "document"})
"""Kinds whose requests are the page loading its parts, unless they carry data."""

_DESTINATIONS = {
    "script": "script",
    "worker": "script",
    "sharedworker": "script",
    "serviceworker": "script",
    "style": "style",
    "font": "font",
    "image": "image",
    "audio": "media",
    "video": "media",
    "track": "media",
    "document": "document",
    "iframe": "document",
    "frame": "document",
    "embed": "document",
    "object": "document",
}
_EXTENSIONS = {
    "js": "script",
    "mjs": "script",
    "css": "style",
    "woff": "font",
    "woff2": "font",
    "ttf": "font",
    "otf": "font",
    "eot": "font",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "gif": "image",
    "svg": "image",
    "webp": "image",
    "avif": "image",
    "ico": "image",
    "mp4": "media",
    "webm": "media",
    "mp3": "media",
}
_SENDING_METHODS = frozenset({"POST", "PUT", "PATCH"})


def page_of(request: Request) -> str | None:
    """The page a request was made from: as captured, else ``Referer``, else ``Origin``."""
    return request.page_url or request.header("referer") or request.header("origin")


def third_party_site(request: Request) -> str | None:
    """The registrable domain of a request's host when it is not the page's site, else None.

    None too when the page is unknown (a page load itself, or a capture without
    ``Referer``): phitrace cannot say whose site such a request leaves.
    """
    page = request.page_url or request.header("referer") or request.header("origin")
    page_host = urls.parse_url(page).host  # page_of and host_of, inline: every flow asks
    host = urls.parse_url(request.url).host if page_host else ""
    if not host or host == page_host:  # the same host is the same site
        return None
    site = urls.registrable_domain(host)
    return None if site == urls.registrable_domain(page_host) else site


def is_preflight(request: Request) -> bool:
    """A CORS preflight: the browser asking whether it may send the real request."""
    return request.method.upper() == "OPTIONS" and bool(
        request.header("access-control-request-method")
    )


def request_kind(request: Request) -> str:
    """``preflight``, ``beacon``, ``ping``, ``fetch``, ``websocket`` or an asset kind.

    Browsers say what a request is for in ``Sec-Fetch-Dest``; without it (HAR
    exports, other clients) the method and the path's extension are the guess.
    """
    method = request.method.upper()
    if method == "OPTIONS" and request.header("access-control-request-method"):
        return "preflight"  # is_preflight, with the method read once
    if method == "WEBSOCKET" or request.url.startswith(("ws://", "wss://")):
        return "websocket"
    if (request.header("content-type") or "").lower().startswith("text/ping"):
        return "ping"
    dest = (request.header("sec-fetch-dest") or "").lower()
    if dest in _DESTINATIONS:
        return _DESTINATIONS[dest]
    if dest == "empty":
        mode = (request.header("sec-fetch-mode") or "").lower()
        return "beacon" if method == "POST" and mode == "no-cors" else "fetch"
    if method in _SENDING_METHODS:
        return "fetch"
    last = request.path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    return _EXTENSIONS.get(ext, "other")


def carries_payload(request: Request) -> bool:
    """True when a request sends data of its own: a body, or query values.

    ``?a=1`` and a bare blob (``?eyJldmVudCI6…``) are data; ``?a=`` and ``?v`` are not.
    """
    if request.body:
        return True
    for part in urls.parse_url(request.url).query.split("&"):
        key, equals, value = part.partition("=")
        if value or (not equals and len(key) >= 8):
            return True
    return False


def names_a_page(request: Request) -> bool:
    """True when the ``Referer`` names a page (path or query), not just the site's origin.

    Browsers send only the origin cross-site by default; a full Referer is the
    side channel through which a third party learns which page was visited.
    """
    referer = request.header("referer")
    return bool(referer) and not urls.parse_url(referer).is_origin_only


def is_beacon(request: Request) -> bool:
    """True for requests that carry data out, as the third-party sinkhole answers them.

    Preflights (so the real request follows), anything sent with a body,
    ``sendBeacon`` and ``<a ping>``, and pixels, fetches and XHRs with query
    values.  Documents, scripts, styles and fonts are the page's own parts and
    are not beacons, whatever their query says.
    """
    kind = request_kind(request)
    if kind in ("preflight", "beacon", "ping"):
        return True
    if kind in ("script", "style", "font", "document", "media", "websocket"):
        return False
    return request.method.upper() in _SENDING_METHODS or carries_payload(request)


@dataclass
class Party:
    """One third party as a session saw it."""

    domain: str
    catalogued: bool = False
    vendor: str | None = None
    company: str | None = None
    hosts: set[str] = field(default_factory=set)
    requests: int = 0
    bytes_sent: int = 0
    first_seen: float | None = None
    last_seen: float | None = None


@dataclass
class Inventory:
    """Every third-party domain of a session: requests, bytes sent, first and last seen.

    Bounded: past ``max_parties`` domains, new ones are counted in ``overflow`` only.
    """

    max_parties: int = 10_000
    parties: dict[str, Party] = field(default_factory=dict)
    overflow: int = 0

    def observe(
        self, request: Request, domain: str, vendor: str | None, company: str | None = None
    ) -> None:
        """Count one request to ``domain``; ``vendor`` when the catalogue or a list named it."""
        party = self.parties.get(domain)
        if party is None:
            if len(self.parties) >= self.max_parties:
                self.overflow += 1
                return
            party = self.parties[domain] = Party(domain)
        if vendor is not None and not vendor.startswith("third-party:"):
            party.catalogued = True
            party.vendor = party.vendor or vendor
        party.company = party.company or company
        if len(party.hosts) < 64:
            party.hosts.add(request.host)
        party.requests += 1
        party.bytes_sent += len(request.body) + len(request.url)
        stamp = request.timestamp or None
        if stamp is not None:
            party.first_seen = stamp if party.first_seen is None else min(party.first_seen, stamp)
            party.last_seen = stamp if party.last_seen is None else max(party.last_seen, stamp)
