"""Sinkhole answers: what a tracker endpoint would have said, made up locally.

In sinkhole mode tracker requests are recorded and answered here, never
forwarded.  Real tags only send their real payloads when the answers look
right: a CORS preflight must allow the page's origin, credentials, method and
headers; an image pixel must decode as an image; a script must be JavaScript.
Some SDKs also want their collector's own answer (Countly's
``{"result":"Success"}``, OpenReplay's session token): a signature declares
it on its endpoint (``sinkhole:``) and :func:`answer` sends it.
:func:`answers` says which requests the sinkhole takes, by its scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from phitrace.capture.parties import is_beacon, third_party_site
from phitrace.model import Request, SinkholeReply

SINKHOLE_SCOPES: tuple[str, ...] = ("third-party", "catalogue", "all")
"""What the sinkhole answers: every third-party beacon (the default), only catalogued
and listed trackers, or every third-party request, scripts included."""

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"

# The smallest transparent GIF (1x1), as image pixels expect.
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


@dataclass(frozen=True)
class Answer:
    """A locally made response."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _cors(request: Request) -> list[tuple[str, str]]:
    origin = request.header("origin")
    if not origin:
        return []
    headers = [
        ("Access-Control-Allow-Origin", origin),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", "Origin"),
    ]
    return headers


def answers(request: Request, named: bool, scope: str) -> bool:
    """Whether the sinkhole answers a request itself, for a scope of :data:`SINKHOLE_SCOPES`.

    ``named`` says the catalogue or an imported list knows the recipient: such
    requests are answered in every scope, as they always were.  ``third-party``
    adds every beacon to another site (preflights, sends, pixels and fetches
    with data) while documents, scripts, styles and fonts still load, so pages
    render and every SDK's payload leaves the browser to be captured; ``all``
    adds every request to another site.
    """
    if named:
        return True
    if scope == "catalogue" or third_party_site(request) is None:
        return False
    return scope == "all" or is_beacon(request)


def _kind(request: Request) -> str:
    """Guess what the page expects back: preflight, image, script, beacon or data."""
    method = request.method.upper()
    dest = (request.header("sec-fetch-dest") or "").lower()
    mode = (request.header("sec-fetch-mode") or "").lower()
    path = request.path.lower()
    if method == "OPTIONS" and request.header("access-control-request-method"):
        return "preflight"
    if dest == "image" or path.endswith((".gif", ".png", ".jpg")):
        return "image"
    if dest == "script" or path.endswith(".js"):
        return "script"
    if dest in ("iframe", "frame", "document"):
        return "document"
    if method == "POST" and dest == "empty" and mode == "no-cors":
        return "beacon"
    if method == "GET" and not dest and "image" in (request.header("accept") or ""):
        return "image"
    return "data"


DECLARED_KINDS = frozenset({"image", "beacon", "data"})
"""Requests a signature's declared answer replaces the default for: what a collector
answers.  Preflights, scripts and documents keep theirs, so a page still loads."""


def declared_answer(request: Request, declared: SinkholeReply) -> Answer:
    """The answer an endpoint's signature declares, with the CORS headers the page needs."""
    common = [("Cache-Control", "no-store"), ("X-Phitrace", "sinkhole")]
    typed = [("Content-Type", declared.content_type)] if declared.content_type else []
    return Answer(declared.status, (*_cors(request), *typed, *common), declared.body)


def answer(request: Request, declared: SinkholeReply | None = None) -> Answer:
    """Build the local answer for a tracker request.

    ``declared`` is what the matched endpoint's signature says its collector
    answers; without one (or for a preflight, script or document) the answer
    is the default for the kind of request.
    """
    cors = _cors(request)
    kind = _kind(request)
    if declared is not None and kind in DECLARED_KINDS:
        return declared_answer(request, declared)
    common = [("Cache-Control", "no-store"), ("X-Phitrace", "sinkhole")]
    if kind == "preflight":
        allowed = request.header("access-control-request-method") or ALLOWED_METHODS
        requested = request.header("access-control-request-headers")
        headers = [
            *cors,
            ("Access-Control-Allow-Methods", allowed),
            ("Access-Control-Max-Age", "600"),
        ]
        if requested:
            headers.append(("Access-Control-Allow-Headers", requested))
        return Answer(204, (*headers, *common), b"")
    if kind == "image":
        return Answer(200, (*cors, ("Content-Type", "image/gif"), *common), PIXEL_GIF)
    if kind == "script":
        body = b"/* phitrace sinkhole: tracker script not loaded */\n"
        return Answer(200, (*cors, ("Content-Type", "application/javascript"), *common), body)
    if kind == "document":
        return Answer(200, (("Content-Type", "text/html; charset=utf-8"), *common), b"")
    if kind == "beacon":
        return Answer(204, (*cors, *common), b"")
    return Answer(200, (*cors, ("Content-Type", "application/json"), *common), b"{}")
