"""Plain data passed between phitrace's pipeline stages.

Every stage (match, decode, detect, assess) is a pure function over these
records, so the core can be tested and benchmarked without a proxy.  The
mitmproxy addon, the HAR reader and the CLI only build a :class:`Request` and
consume an :class:`Analysis`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from typing import Any, NamedTuple

from phitrace import urls

HEALTH_CATEGORIES: tuple[str, ...] = (
    "condition",
    "medication",
    "procedure",
    "immunization",
    "allergy",
    "lab_test",
    "appointment",
    "provider",
    "health_search",
    "health_page",
    "message",
    "insurance",
)
"""The fixed vocabulary of health finding categories (the database contract)."""

IDENTIFIER_CATEGORIES: tuple[str, ...] = (
    "email",
    "phone",
    "name",
    "postal_address",
    "date_of_birth",
    "member_id",
    "user_id",
    "hashed_email",
    "hashed_phone",
    "ip_address",
    "device_id",
)
"""The fixed vocabulary of identifier finding categories (the database contract)."""

SEVERITIES: tuple[str, ...] = ("high", "medium", "low", "info")
"""Severity levels, most severe first."""

KINDS: tuple[str, ...] = ("health", "identifier", "canary")

CANARY_KINDS: tuple[str, ...] = (
    "email",
    "phone",
    "name",
    "member_id",
    "user_id",
    "postal_address",
    "date_of_birth",
    "health",
    "other",
)
"""What a canary's planted value is: an identity (most kinds), a health fact, or ``other``."""


def severity_rank(severity: str) -> int:
    """Return a sortable rank: 0 for ``high`` up to 3 for ``info``."""
    return SEVERITIES.index(severity)


def utf8_safe(text: str) -> str:
    """``text`` with any lone surrogate (an undecodable byte) replaced by its backslash escape.

    SQLite and Brave's engine take UTF-8, which cannot hold lone surrogates.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def wire_bytes(text: str) -> bytes:
    """The bytes a text stood for: bytes mitmproxy could not decode come back as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # other lone surrogates, e.g. JSON escapes in a HAR file
        return text.encode("utf-8", "surrogatepass")


def first_header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first header called ``name`` (case-insensitive) in wire order, or None."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


@dataclass(frozen=True)
class Request:
    """One HTTP request as phitrace sees it, independent of where it came from.

    ``headers`` keeps order and repeats, as on the wire, and ``body`` is the
    body as sent (still ``Content-Encoding``-encoded from a live capture).
    ``page_url`` is the document the request was made from, when the capture
    knows it.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    timestamp: float = 0.0
    page_url: str | None = None
    host_header: str | None = None
    """The ``Host`` header when it names another host than ``url`` (which is where
    the request really went): a client hiding a tracker request behind another name."""

    @property
    def host(self) -> str:
        """The lower-cased host name, without port ("" when the URL cannot be parsed)."""
        return urls.parse_url(self.url).host

    @property
    def path(self) -> str:
        """The URL path (``/`` when empty or when the URL cannot be parsed)."""
        return urls.parse_url(self.url).path or "/"

    def header(self, name: str) -> str | None:
        """Return the first header called ``name`` (case-insensitive), or None.

        :func:`first_header`, inline: every stage asks a flow for headers.
        """
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def sha256(self) -> str:
        """Digest of the request line, headers and body: the evidence fingerprint."""
        digest = hashlib.sha256()
        digest.update(wire_bytes(f"{self.method} {self.url}\r\n"))
        for key, value in self.headers:
            digest.update(wire_bytes(f"{key}: {value}\r\n"))
        digest.update(b"\r\n")
        digest.update(self.body)
        return digest.hexdigest()


class Field(NamedTuple):
    """One decoded value and where it came from.

    ``path`` is a stable address such as ``query.dl`` or
    ``body.line[1].ep.search_term``; ``trail`` lists the decoders applied, e.g.
    ``("form", "json")``.  A named tuple rather than a dataclass: decoding
    builds one per value, thousands for a session-replay body, and a frozen
    dataclass costs several times more to construct.
    """

    path: str
    value: str
    trail: tuple[str, ...] = ()

    @property
    def trail_text(self) -> str:
        """The trail joined as ``gzip>json>base64``; empty for plain values."""
        return ">".join(self.trail)

    @property
    def evidence(self) -> str:
        """The path with its trail, as stored in the ``findings.field`` column."""
        return evidence_text(self.path, self.trail)


def evidence_text(path: str, trail: tuple[str, ...]) -> str:
    """A path and decode trail as one text, ``body.cd.q [form>json]``: for display only.

    The text cannot be split back reliably (a JSON key may hold `` [``), so
    nothing parses it: the path and trail travel as separate values.
    """
    return f"{path} [{'>'.join(trail)}]" if trail else path


@dataclass(frozen=True)
class Finding:
    """Something sensitive found in a request, with the evidence for it.

    ``path`` is where in the payload (``query.dl``) and ``trail`` the decoders
    that led there (``("form", "json")``), kept apart so no reader has to
    parse them out of a joined text.  ``canary_kind`` says what a canary's
    planted value is (one of :data:`CANARY_KINDS`); it is None for other kinds.
    """

    kind: str
    category: str
    path: str
    value: str
    matched: str
    rule: str
    severity: str = "info"
    reason: str = ""
    trail: tuple[str, ...] = ()
    canary_kind: str | None = None
    policy: str | None = None
    """The policy rule that accepts the finding: ``covered``, ``allowed:<n>``, or None."""

    @property
    def field(self) -> str:
        """Path and trail as one text, as stored in the ``findings.field`` column."""
        return evidence_text(self.path, self.trail)

    def assessed(self, severity: str, reason: str) -> Finding:
        """This finding with its request's severity and reason, as ``dataclasses.replace`` gives.

        Built by copying the instance dictionary: every finding of every
        tracker flow is assessed, and ``replace`` goes through the frozen
        ``__init__`` field by field.
        """
        finding = object.__new__(Finding)
        state = finding.__dict__
        state.update(self.__dict__)
        state["severity"] = severity
        state["reason"] = reason
        return finding

    @property
    def trail_text(self) -> str:
        """The trail joined as ``form>json``; empty for plain values."""
        return ">".join(self.trail)


@dataclass(frozen=True)
class Response:
    """What phitrace reads of a response: its status, headers and (the start of) its body.

    ``body`` is as received, ``Content-Encoding`` still applied, and cut to
    the bound the capture reads; phitrace never changes the response itself.
    """

    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """Return the first header called ``name`` (case-insensitive), or None."""
        return first_header(self.headers, name)


@dataclass(frozen=True)
class Decoded:
    """Result of decoding a request: its fields and whether a limit stopped it."""

    fields: tuple[Field, ...]
    truncated: str | None = None


@dataclass(frozen=True)
class SinkholeReply:
    """What a vendor's collector answers, as its signature declares: the sinkhole says the same.

    Some SDKs hold back or resend their queue unless the answer has the shape
    their server gives (a JSON acknowledgement, a session token); the default
    answers in :mod:`phitrace.act.sinkhole` do for the rest.
    """

    status: int = 200
    content_type: str = ""
    body: bytes = b""


@dataclass(frozen=True)
class Analysis:
    """Everything phitrace concluded about one request."""

    request: Request
    vendor: str | None = None
    vendor_name: str | None = None
    tracker_category: str | None = None
    page_url: str | None = None
    fields: tuple[Field, ...] = ()
    findings: tuple[Finding, ...] = ()
    severity: str | None = None
    truncated: str | None = None
    endpoint_role: str | None = None
    third_party: str | None = None
    """The registrable domain the request went to, when it is not the page's site."""
    severity_reason: str = ""
    """Why the request has its severity (the sentence of the rule that applied)."""
    vendor_company: str | None = None
    """The company behind the vendor, from its signature."""
    sinkhole: SinkholeReply | None = None
    """The answer the matched endpoint's signature declares for the sinkhole, if any."""
    authenticated: str | None = None
    """Whether the page was viewed logged in: ``yes``, ``no`` or ``unknown``."""
    authenticated_reason: str | None = None
    """The evidence for ``authenticated`` (a cookie, a header, a payload field, a path)."""

    @property
    def recorded(self) -> bool:
        """True when the flow belongs in the database: a tracker, or a canary leak."""
        return self.vendor is not None or bool(self.findings)

    @classmethod
    def counted(cls, request: Request, third_party: str | None = None) -> Analysis:
        """The analysis of a request with nothing to record: every field at its default.

        Most flows end here (first-party loads, third-party assets), and the
        frozen dataclass's ``__init__`` sets each of its fields through
        ``object.__setattr__``; filling the instance dictionary at once gives
        an equal record in a fraction of the time.
        """
        analysis = object.__new__(cls)
        state = analysis.__dict__
        state.update(_ANALYSIS_DEFAULTS)
        state["request"] = request
        state["third_party"] = third_party
        return analysis

    @classmethod
    def unanalysed(cls, request: Request) -> Analysis:
        """The record of a request whose analysis raised: the request as it was sent.

        Fail open, lose nothing: the proxy and the scanner both keep such a
        request (with the error beside it) rather than drop it.
        """
        return cls(
            request,
            page_url=request.page_url,
            severity="info",
            severity_reason="not analysed: phitrace failed on this request (internal error)",
        )


_ANALYSIS_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(Analysis) if f.init and f.name != "request"
}
if MISSING in _ANALYSIS_DEFAULTS.values():  # a default_factory would be shared, not called
    raise TypeError("Analysis.counted needs a plain default for every field but the request")
