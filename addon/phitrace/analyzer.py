"""The pure analysis pipeline: match → decode → detect → assess.

:class:`Analyzer` holds the parsed signatures, vocabulary and canaries and
turns one :class:`~phitrace.model.Request` into an
:class:`~phitrace.model.Analysis`.  It does no I/O, so the proxy addon, the
HAR scanner and the benchmarks all share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phitrace import urls
from phitrace.assess.severity import assess
from phitrace.catalogue.lists import BlockList
from phitrace.catalogue.signatures import Catalogue, Signature
from phitrace.decode.request import DEFAULT_LIMITS, Limits, decode_request, field_key
from phitrace.detect.canaries import NO_CANARIES, Canaries, find_canaries
from phitrace.detect.health import detect_health, detect_identifiers
from phitrace.detect.vocabulary import Vocabulary
from phitrace.model import Analysis, Field, Request
from phitrace.session import Session


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


def is_third_party(request: Request) -> bool:
    """True when the request leaves the site of the page it came from.

    The site under audit receiving what a tester typed is expected; canaries
    matter where a third party receives them.  Without a known page (a page
    load itself) a request is first-party.
    """
    page = request.page_url or request.header("referer") or request.header("origin")
    if not page:
        return False
    return not urls.same_site(urls.host_of(page), request.host)


@dataclass
class Analyzer:
    """Everything needed to analyse requests, parsed once."""

    catalogue: Catalogue
    vocabulary: Vocabulary
    canaries: Canaries = NO_CANARIES
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    blocklist: BlockList | None = None
    """Imported Adblock Plus lists, consulted only when the catalogue misses."""

    def analyse(self, request: Request, session: Session | None = None) -> Analysis:
        """Analyse one request.  Non-tracker requests are only searched for canaries.

        Pure unless a ``session`` is given: then the request is linked with what the
        session saw before (the same vendor id travelling with health data in one
        request and an identifier in another raises the severity).
        """
        match = self.catalogue.match(request)
        listed = self.blocklist.match(request) if match is None and self.blocklist else None
        if match is None and listed is None and not (self.canaries and is_third_party(request)):
            return Analysis(request=request)
        decoded = decode_request(request, self.limits)
        signature = match.signature if match else None
        findings = []
        if match is not None or listed is not None:
            findings += detect_health(decoded.fields, signature, self.vocabulary)
            findings += detect_identifiers(decoded.fields, signature)
        findings += find_canaries(request, decoded.fields, self.canaries)
        if signature is None and listed is None and not findings:
            return Analysis(request=request)
        category = signature.category if signature else "other" if listed else None
        vendor = signature.id if signature else listed.vendor if listed else None
        link = session.linker.observe(vendor, findings) if session is not None else None
        assessment = assess(findings, category, linked=link or False)
        return Analysis(
            request=request,
            vendor=vendor,
            vendor_name=signature.name if signature else listed.label if listed else None,
            tracker_category=category,
            page_url=page_url_of(request, decoded.fields, signature),
            fields=decoded.fields,
            findings=tuple(assessment.findings),
            severity=assessment.severity,
            truncated=decoded.truncated,
            endpoint_role=match.endpoint.role if match else None,
            severity_reason=assessment.reason,
            vendor_company=signature.company if signature else None,
        )
