"""Find health data and identifiers in a request's decoded fields.

Detection reads each field in the light of the signature's field map: a term
in a page-URL field is a health page (or condition, provider…), a term in a
search field is a health search, a 64-hex value in a hashed-email field is a
hashed e-mail.  Page URLs are read by their parts: path segments and slugs
(split on ``-``, ``_``, ``+``, ``%20`` and camelCase) and query parameters,
where search parameters (``q``, ``s``, ``searchTerm``…) make a health search.
Resource URLs (``.js``, ``.png``…) and opaque tokens (ids, base64 blobs) are
not read for words.  Identifier detection lives in :mod:`phitrace.detect.identifiers`;
codes (ICD-10-CM, NDC) in :mod:`phitrace.detect.codes`.  All functions are pure;
results per field value are memoised on the vocabulary, because page URLs and
titles repeat in every beacon of a page view.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Set
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from phitrace import urls
from phitrace.catalogue.model import CONTENT_ROLES, Signature
from phitrace.detect.codes import find_codes, might_hold_codes
from phitrace.detect.fieldnames import field_names, path_table, plan_table, remember
from phitrace.detect.identifiers import detect_identifiers
from phitrace.detect.vocabulary import Term, Vocabulary, search_key, tokens
from phitrace.model import Field, Finding

__all__ = [
    "MAX_HEALTH_FINDINGS",
    "detect_health",
    "detect_identifiers",
    "url_terms",
]

URL_ROLES = frozenset({"page_url", "referrer"})
CONTEXT_ROLES = frozenset(CONTENT_ROLES)
"""Roles where weak terms ("appointments", "pharmacy") count."""

MESSAGE_KEYS = frozenset(
    {
        "message",
        "msg",
        "comment",
        "comments",
        "question",
        "inquiry",
        "enquiry",
        "note",
        "notes",
        "reasonforvisit",
        "visitreason",
        "chiefcomplaint",
        "symptoms",
    }
)
"""Field names of free text a visitor writes; health terms in them also make a message."""

ASSET_SUFFIXES = (
    ".js",
    ".css",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".svg",
    ".webp",
    ".avif",
    ".ico",
    ".woff",
    ".woff2",
    ".ttf",
    ".otf",
    ".eot",
    ".mp4",
    ".webm",
    ".mp3",
    ".map",
    ".json",
)
"""A URL whose path ends like this is a page's resource, not a page: its words are not read."""

MAX_HEALTH_FINDINGS = 40
"""At most this many health findings per request: site-wide metadata (a schema.org list
of every service a hospital offers) would otherwise bury what matters."""

_ASSET_IN_PATH = re.compile(
    r"\.(?:js|css|png|jpe?g|gif|svg|webp|avif|ico|woff2?|ttf|mp4|webm|mp3)(?:[/?#]|$)", re.I
)
"""A file name of a resource inside a path-like value (``.../photo.jpg/_jcr_content/...``)."""
_OPAQUE = re.compile(r"^[A-Za-z0-9+/=_-]{20,}$")
_WORDS = re.compile(r"[A-Za-z]{2}")
_MAX_TEXT = 64 * 1024
_MEMO_TEXT = 1024
_MEMO_SIZE = 50_000

Hit = tuple[str, str, str, str]
"""What a field value yields, independent of where it sits: category, matched, rule, reason."""


@dataclass(frozen=True)
class UrlTerm:
    """A term found in a URL and the part it was in: ``path``, ``search`` or ``param NAME``."""

    part: str
    term: Term


def opaque(value: str) -> bool:
    """True for tokens, ids and base64 blobs: mixed-case letters and digits, no words.

    Their letters split into random "words" (camelCase splitting of
    ``yN9ButVW11zFT9...`` yields ``ms``, ``ed``…), so they are never read for terms.
    """
    if not _OPAQUE.match(value):
        return False
    separators = value.count("-") + value.count("_")
    return (
        separators * 12 < len(value)
        and any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


def _looks_like_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "/")) and len(value) > 1


def url_terms(value: str, vocab: Vocabulary) -> tuple[UrlTerm, ...]:
    """Terms in a URL by part: path segments and slugs, search parameters, other parameters."""
    text = unquote(value) if "%2F" in value[:48] or "%2f" in value[:48] else value
    parts = urls.split(text)
    if parts.path.lower().endswith(ASSET_SUFFIXES):
        return ()
    found = [UrlTerm("path", t) for t in vocab.find_words(tokens(parts.path))]
    for key, val in parse_qsl(parts.query, keep_blank_values=False):
        if opaque(val):
            continue
        part = "search" if search_key(key) in vocab.search_params else f"param {key}"
        found.extend(UrlTerm(part, t) for t in vocab.find(val))
    fragment = parts.fragment
    if fragment and not fragment.startswith(("!", "/")) and "=" not in fragment:
        found.extend(UrlTerm("fragment", t) for t in vocab.find(fragment, allow_weak=False))
    return tuple(found)


def _describe(term: Term) -> str:
    sensitivity = "" if term.sensitivity == "general" else f", {term.sensitivity.replace('_', ' ')}"
    return f"{term.category.replace('_', ' ')} term '{term.canonical}' ({term.source}{sensitivity})"


def _url_hits(value: str, vocab: Vocabulary) -> Iterator[Hit]:
    for found in url_terms(value, vocab):
        term = found.term
        if found.part == "search":
            yield (
                "health_search",
                term.canonical,
                f"url-search:{term.category}",
                f"{_describe(term)} in a site search in the URL",
            )
        else:
            yield (
                term.category,
                term.canonical,
                f"url-{found.part.split()[0]}:{term.category}",
                f"{_describe(term)} in the URL {found.part}",
            )


def _text_hits(value: str, role: str | None, leaf: str, vocab: Vocabulary) -> Iterator[Hit]:
    searched = len(leaf) > 1 and leaf in vocab.search_params
    if role == "search_term" or (role in (None, "event_properties") and searched):
        for term in vocab.find(value):
            yield (
                "health_search",
                term.canonical,
                f"search:{term.category}",
                f"{_describe(term)} in a search term",
            )
        return
    terms = vocab.find(value, allow_weak=role in CONTEXT_ROLES)
    where = role.replace("_", " ") if role else "a payload field"
    for term in terms:
        yield (
            term.category,
            term.canonical,
            f"{role or 'field'}:{term.category}",
            f"{_describe(term)} in {where}",
        )
    if leaf in MESSAGE_KEYS and any(not t.weak for t in terms) and len(value.split()) >= 3:
        yield (
            "message",
            "message",
            f"message:{leaf}",
            f"free-text '{leaf}' field mentioning '{terms[0].canonical}'",
        )


def _code_hits(value: str, leaf: str) -> Iterator[Hit]:
    for code in find_codes(value, leaf):
        yield (
            code.category,
            code.label,
            f"code:{code.system.lower()}",
            f"{code.system} code {code.code} ({code.source})",
        )


def _resource_path(value: str) -> bool:
    """A path-like value naming an image, script or font: its words describe a file, not a visit.

    Session-replay tools and CDNs send such paths without a scheme (``https/www.…``),
    so they escape the URL reading that already skips resources.
    """
    return "/" in value and " " not in value and bool(_ASSET_IN_PATH.search(value))


def field_hits(value: str, role: str | None, leaf: str, vocab: Vocabulary) -> tuple[Hit, ...]:
    """Health hits of one field value, given its role and (normalised) field name."""
    hits: list[Hit] = []
    if _WORDS.search(value) and not (len(value) >= 20 and opaque(value)):
        url = role in URL_ROLES or (
            _looks_like_url(value) and role not in ("search_term", "page_title")
        )
        if url:
            hits.extend(_url_hits(value, vocab))
        elif not _resource_path(value):
            hits.extend(_text_hits(value, role, leaf, vocab))
    if might_hold_codes(value, leaf):
        hits.extend(_code_hits(value, leaf))
    return tuple(hits)


_NO_PARENTS: frozenset[str] = frozenset()
"""What :func:`_decoded_parents` finds among fewer than two fields: nothing to pair."""


def _decoded_parents(fields: list[Field]) -> set[str]:
    """Paths of JSON strings that decoding also split into fields: read the parts, not both."""
    parents: set[str] = set()
    for current, following in zip(fields, fields[1:], strict=False):
        if current.value.startswith(("{", "[")) and following.path.startswith(current.path):
            rest = following.path[len(current.path) : len(current.path) + 1]
            if rest in (".", "["):
                parents.add(current.path)
    return parents


def _plan(
    plans: dict[str, tuple[str | None, str]], signature: Signature | None, path: str
) -> tuple[str | None, str]:
    """A path's role and last name under ``signature`` (the Referer reads as a referrer)."""
    if path == "header.referer":
        plan: tuple[str | None, str] = ("referrer", "referer")
    else:
        table = path_table(signature)
        names = table.get(path) or field_names(table, signature, path)
        plan = (names.mapped if names.mapped is not None else names.conventional, names.leaf)
    remember(plans, path, plan)
    return plan


def detect_health(
    fields: Iterable[Field], signature: Signature | None, vocab: Vocabulary
) -> list[Finding]:
    """Find health terms and codes in fields; one finding per category and term per request.

    Cookies are never read for health terms.  The Referer header only counts
    when the payload did not already carry the same term, so a term is
    reported where the tracker's own payload put it.  At most
    :data:`MAX_HEALTH_FINDINGS` are returned.
    """
    seen: set[tuple[str, str]] = set()
    findings: list[Finding] = []
    payload: list[Field] = []
    referers: list[Field] = []
    for field in fields:
        path = field[0]
        if not path.startswith(("cookie.", "header.")):
            payload.append(field)
        elif path == "header.referer":
            referers.append(field)
    decoded: Set[str] = _decoded_parents(payload) if len(payload) > 1 else _NO_PARENTS
    memo: dict[tuple[str, str | None, str], tuple[Hit, ...]] = vocab.memo("field_hits")
    plans = plan_table(signature, "health")
    if referers:
        payload += referers
    for field in payload:
        path, value, _ = field
        if len(value) < 2 or path in decoded:
            continue
        role, leaf = plans.get(path) or _plan(plans, signature, path)
        if len(value) > _MEMO_TEXT:
            hits = field_hits(value[:_MAX_TEXT], role, leaf, vocab)
        else:
            key = (value, role, leaf)
            hits = memo.get(key)  # type: ignore[assignment]
            if hits is None:
                hits = field_hits(value, role, leaf, vocab)
                if len(memo) >= _MEMO_SIZE:
                    memo.clear()
                memo[key] = hits
        if not hits:
            continue
        for category, matched, rule, reason in hits:
            if (category, matched) in seen:
                continue
            seen.add((category, matched))
            findings.append(
                Finding(
                    "health",
                    category,
                    field.path,
                    value,
                    matched,
                    rule,
                    reason=reason,
                    trail=field.trail,
                )
            )
            if len(findings) >= MAX_HEALTH_FINDINGS:
                return findings
    return findings
