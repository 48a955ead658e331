"""The pure analysis pipeline: match → decode → detect → assess.

:class:`Analyzer` holds the parsed signatures, vocabulary and canaries and
turns one :class:`~phitrace.model.Request` into an
:class:`~phitrace.model.Analysis`.  It does no I/O, so the proxy addon, the
HAR scanner and the benchmarks all share it.

Every third party is analysed, not only the catalogue's: a request whose
registrable domain is not its page's is decoded and searched like a tracker's,
as vendor ``third-party:<domain>`` (category ``unlisted``) when neither the
catalogue nor an imported list names it.  Such a request is kept when it
carries data (a body, query values) or findings; a script, style sheet, font
or image that carries nothing sensitive is only counted in the session's
inventory of third parties.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from phitrace.assess.pagecontext import (
    learn_page_health,
    page_authentication,
    page_findings,
    page_health,
)
from phitrace.assess.policy import Policy, apply_policy
from phitrace.assess.severity import assess
from phitrace.capture.parties import (
    ASSET_KINDS,
    carries_payload,
    is_preflight,
    names_a_page,
    request_kind,
    third_party_site,
)
from phitrace.catalogue.entities import Entities
from phitrace.catalogue.lists import BlockList
from phitrace.catalogue.matcher import Catalogue
from phitrace.catalogue.model import Signature
from phitrace.decode.document import read_document
from phitrace.decode.request import (
    DEFAULT_LIMITS,
    Limits,
    decode_message,
    decode_request,
    field_key,
)
from phitrace.detect.authenticated import (
    YES,
    document_state,
    is_login,
    set_cookie_names,
)
from phitrace.detect.canaries import NO_CANARIES, Canaries, find_canaries
from phitrace.detect.health import detect_health, detect_identifiers
from phitrace.detect.vocabulary import Vocabulary
from phitrace.model import Analysis, Decoded, Field, Request, Response
from phitrace.session import Session

WEBSOCKET_METHOD = "WEBSOCKET"
"""The method of a :class:`Request` that stands for one client WebSocket message.

Its body is the message, decoded as a message (fields under ``message.``,
Socket.IO packets split); its URL and headers are the handshake's, which is
analysed as a request of its own.
"""


def decode(request: Request, limits: Limits) -> Decoded:
    """Decode a request, or a WebSocket message standing as one, into fields."""
    if request.method == WEBSOCKET_METHOD:
        return decode_message(request.body, limits)
    return decode_request(request, limits)


DOCUMENT_DESTINATIONS = frozenset({"document", "iframe", "frame", ""})
"""``Sec-Fetch-Dest`` of a page load (empty: a client or capture that does not send it)."""


def is_document(request: Request, response: Response) -> bool:
    """True for a page load: a GET answered with HTML, fetched as a document."""
    kind = (response.header("content-type") or "").split(";", 1)[0].strip().lower()
    dest = (request.header("sec-fetch-dest") or "").lower()
    return request.method == "GET" and kind == "text/html" and dest in DOCUMENT_DESTINATIONS


def page_url_of(
    request: Request, fields: tuple[Field, ...], signature: Signature | None
) -> str | None:
    """The page a request came from: as captured, else as the payload says, else Referer."""
    if request.page_url:
        return request.page_url
    if signature is not None:
        for f in fields:
            if signature.role_of(field_key(f.path)) == "page_url" and f.value.startswith("http"):
                return f.value
    return request.header("referer")


@dataclass
class Analyzer:
    """Everything needed to analyse requests, parsed once."""

    catalogue: Catalogue
    vocabulary: Vocabulary
    canaries: Canaries = NO_CANARIES
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    blocklist: BlockList | None = None
    """Imported Adblock Plus lists, consulted only when the catalogue misses."""

    entities: Entities | None = None
    """Company names for third parties the catalogue does not know."""

    policy: Policy | None = None
    """The organisation's policy: which findings it accepts, and severity overrides."""

    def analyse(self, request: Request, session: Session | None = None) -> Analysis:
        """Analyse one request.  Non-tracker requests are only searched for canaries.

        Pure unless a ``session`` is given: then the request is linked with what the
        session saw before (the same vendor id travelling with health data in one
        request and an identifier in another raises the severity).
        """
        match = self.catalogue.match(request)
        listed = self.blocklist.match(request) if match is None and self.blocklist else None
        site = third_party_site(request)
        named = match is not None or listed is not None
        if not named and site is None:
            return Analysis.counted(request)  # first party, or a page load itself
        signature = match.signature if match else None
        vendor = signature.id if signature else listed.vendor if listed else f"third-party:{site}"
        company = signature.company if signature else self._company(request, listed)
        if session is not None and site is not None:
            session.parties.observe(request, site, vendor, company)
        payload = named or carries_payload(request)
        if not payload and not names_a_page(request):
            return Analysis.counted(request, site)  # nothing of the visit in it
        decoded = decode(request, self.limits)
        findings = detect_health(decoded.fields, signature, self.vocabulary)
        findings += detect_identifiers(decoded.fields, signature)
        if self.canaries:  # every request here is named or third-party
            findings += find_canaries(request, decoded.fields, self.canaries)
        if not named and not findings and (not payload or request_kind(request) in ASSET_KINDS):
            return Analysis.counted(request, site)  # an asset load: only counted
        category = signature.category if signature else "other" if listed else "unlisted"
        page_url = page_url_of(request, decoded.fields, signature)
        records = session.records if session is not None else None
        if records is not None:
            # A CORS preflight sends no event of its own: the request it asks for carries the data.
            if not is_preflight(request):
                findings += page_findings(records.get(page_url), findings)
            learn_page_health(
                records,
                page_url,
                findings,
                lambda: f"the {vendor} flow with request_sha256 {request.sha256()}",
            )
        link = session.linker.observe(vendor, findings) if session is not None else None
        auth = page_authentication(records, page_url, decoded.fields, vendor)
        logged_in = auth.reason if auth.state == YES else None
        assessment = assess(findings, category, linked=link or False, authenticated=logged_in)
        analysis = Analysis(
            request=request,
            vendor=vendor,
            vendor_name=self._vendor_name(request, signature, listed, site),
            tracker_category=category,
            page_url=page_url,
            fields=decoded.fields,
            findings=tuple(assessment.findings),
            severity=assessment.severity,
            truncated=decoded.truncated,
            endpoint_role=match.endpoint.role if match else None,
            third_party=site,
            severity_reason=assessment.reason,
            vendor_company=company,
            sinkhole=match.endpoint.sinkhole if match else None,
            authenticated=auth.state,
            authenticated_reason=auth.reason,
        )
        return apply_policy(self.policy, analysis)

    def observe_response(self, request: Request, response: Response, session: Session) -> None:
        """Learn from a response what later requests of the session need: logins and pages.

        A login (a POST to a login path, or with a password field) that sets
        cookies makes those cookies login cookies; a document records whether
        its request was logged in.  Only the session changes.
        """
        records = session.records
        names = set_cookie_names(response.headers)
        if names and request.method.upper() == "POST":
            fields = decode(request, self.limits).fields if request.body else ()
            if is_login(request, (field_key(f.path) for f in fields)):
                records.logged_in(names, f"{request.method} {request.path}")
        if not is_document(request, response):
            return
        auth = document_state(request, records.login_cookies)
        record = replace(
            records.record_for(request.url),
            authenticated=auth.state,
            authenticated_reason=auth.reason,
        )
        text = read_document(
            response.body, response.header("content-type"), response.header("content-encoding")
        )
        health = page_health(text, self.vocabulary)
        if health:
            record = replace(record, health=health, health_source=f"the document {request.url}")
        records.put(replace(record, title=text.title))

    def _vendor_name(
        self, request: Request, signature: Signature | None, listed: Any, site: str | None
    ) -> str | None:
        """The product name when known, else the company behind the domain, else the domain."""
        if signature is not None:
            return signature.name
        if listed is not None:
            return listed.label
        return self._company(request, listed) or site

    def _company(self, request: Request, listed: Any) -> str | None:
        """The company behind an unlisted (or list-matched) third party, from the entity maps."""
        if self.entities is None:
            return None
        return self.entities.company_of(request.host)
