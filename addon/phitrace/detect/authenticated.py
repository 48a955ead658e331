"""Tell whether a page was viewed logged in, and say what shows it.

Three kinds of evidence, strongest first: what the document request carried
(a cookie a login response set earlier in the session, a cookie named like a
session cookie, an ``Authorization`` header); what a tracker's payload says
(Adobe's ``authenticatedState``, Application Insights' ``authUserId``, a
logged-in flag); and, weakest, a path where portals usually live
(``/mychart/``), which alone leaves the state ``unknown``.  The name
conventions are data (``signatures/conventions/authentication.yaml``).  Every
function here is pure: the session keeps the login cookies it has seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

from phitrace.detect.fieldnames import key_parts
from phitrace.model import Field, Request
from phitrace.resources import data_dir, load_yaml
from phitrace.urls import parse_url

CONVENTIONS = "conventions/authentication.yaml"
YES, NO, UNKNOWN = "yes", "no", "unknown"


class AuthState(NamedTuple):
    """``yes``, ``no`` or ``unknown``, and the evidence for it (None when there is none)."""

    state: str
    reason: str | None = None


@dataclass(frozen=True)
class PayloadRule:
    """A tracker field whose presence (or one of ``values``) says the visitor is logged in."""

    keys: frozenset[str]
    values: frozenset[str] = frozenset()
    vendors: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthConventions:
    """The parsed conventions file."""

    cookie_names: frozenset[str]
    cookie_prefixes: tuple[str, ...]
    cookie_suffixes: tuple[str, ...]
    login_words: tuple[str, ...]
    password_fields: frozenset[str]
    payload_rules: tuple[PayloadRule, ...]
    payload_values: frozenset[str]
    portal_paths: tuple[str, ...]


def _words(data: Any, where: str) -> tuple[str, ...]:
    if not isinstance(data, list) or not all(isinstance(w, str) for w in data):
        raise ValueError(f"{CONVENTIONS}: {where} must be a list of strings")
    return tuple(w.lower() for w in data)


def _rule(item: Any) -> PayloadRule:
    if not isinstance(item, dict) or "keys" not in item:
        raise ValueError(f"{CONVENTIONS}: each payload_fields entry needs 'keys'")
    keys = frozenset(k.replace("_", "") for k in _words(item["keys"], "payload_fields.keys"))
    values = frozenset(_words(item.get("values", []), "payload_fields.values"))
    return PayloadRule(keys, values, _words(item.get("vendors", []), "payload_fields.vendors"))


def parse_conventions(data: Any) -> AuthConventions:
    """Build the conventions from the YAML document; a ``ValueError`` says what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"{CONVENTIONS}: expected a mapping")
    cookies, login = data.get("session_cookies") or {}, data.get("login_requests") or {}
    return AuthConventions(
        cookie_names=frozenset(_words(cookies.get("names", []), "session_cookies.names")),
        cookie_prefixes=_words(cookies.get("prefixes", []), "session_cookies.prefixes"),
        cookie_suffixes=_words(cookies.get("suffixes", []), "session_cookies.suffixes"),
        login_words=_words(login.get("path_words", []), "login_requests.path_words"),
        password_fields=frozenset(_words(login.get("password_fields", []), "password_fields")),
        payload_rules=tuple(_rule(item) for item in data.get("payload_fields") or []),
        payload_values=frozenset(_words(data.get("payload_values", []), "payload_values")),
        portal_paths=_words(data.get("portal_paths", []), "portal_paths"),
    )


@lru_cache(maxsize=1)
def conventions() -> AuthConventions:
    """The bundled conventions, parsed once."""
    path = data_dir("signatures") / CONVENTIONS
    return parse_conventions(load_yaml(path.read_text(encoding="utf-8")))


def cookie_names(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The names of the cookies a request sent, in order."""
    names: list[str] = []
    for key, value in headers:
        if key.lower() == "cookie":
            names += [p.split("=", 1)[0].strip() for p in value.split(";") if "=" in p]
    return [n for n in names if n]


def set_cookie_names(headers: Iterable[tuple[str, str]]) -> list[str]:
    """The names of the cookies a response sets (a cookie being deleted is not counted)."""
    names = []
    for key, value in headers:
        if key.lower() != "set-cookie" or "=" not in value:
            continue
        name, _, rest = value.partition("=")
        cookie_value = rest.split(";", 1)[0].strip().strip('"')
        if name.strip() and cookie_value and "max-age=0" not in rest.lower().replace(" ", ""):
            names.append(name.strip())
    return names


def is_session_cookie(name: str, conv: AuthConventions | None = None) -> bool:
    """True for a cookie named as frameworks name their session cookies."""
    conv = conv or conventions()
    lowered = name.lower()
    return (
        lowered in conv.cookie_names
        or lowered.startswith(conv.cookie_prefixes)
        or lowered.endswith(conv.cookie_suffixes)
    )


def is_login(request: Request, fields: Iterable[str] = ()) -> bool:
    """True for a POST that logs in: a login word in its path, or a password among ``fields``."""
    if request.method.upper() != "POST":
        return False
    conv = conventions()
    path = request.path.lower()
    if any(word in path for word in conv.login_words):
        return True
    return any(name.lower() in conv.password_fields for name in fields)


def document_state(request: Request, login_cookies: Mapping[str, str]) -> AuthState:
    """Whether a document request was made logged in, from its cookies and headers.

    ``login_cookies`` maps the cookies login responses set earlier in the
    session to where they were set (``POST /login``).
    """
    names = cookie_names(request.headers)
    for name in names:
        if name in login_cookies:
            where = login_cookies[name]
            return AuthState(YES, f"cookie '{name}' set by the login response to {where}")
    authorization = request.header("authorization")
    if authorization:
        scheme = authorization.split(" ", 1)[0][:20]
        return AuthState(YES, f"Authorization header ({scheme}) on the document request")
    conv = conventions()
    for name in names:
        if is_session_cookie(name, conv):
            return AuthState(YES, f"session cookie '{name}' on the document request")
    return AuthState(NO)


def _applies(rule: PayloadRule, vendor: str | None) -> bool:
    return not rule.vendors or (vendor is not None and vendor.startswith(rule.vendors))


_FALSY = frozenset({"", "0", "false", "null", "undefined", "none"})
"""Values that say nothing (a flag that is off, an empty slot)."""

_RulesFor = tuple[tuple[PayloadRule, ...], frozenset[str]]
_rules_by_vendor: dict[str | None, _RulesFor] = {}


def _rules_for(vendor: str | None) -> _RulesFor:
    """The payload rules that apply to ``vendor`` and the union of their keys, worked out once.

    A tracker payload has a score of fields; most names are in no rule, so
    the union rules a field out with one set lookup before any rule is tried.
    """
    found = _rules_by_vendor.get(vendor)
    if found is None:
        rules = tuple(r for r in conventions().payload_rules if _applies(r, vendor))
        found = (rules, frozenset().union(*(r.keys for r in rules)))
        if len(_rules_by_vendor) >= 4096:  # vendors are few; bound unlisted third parties
            _rules_by_vendor.clear()
        _rules_by_vendor[vendor] = found
    return found


def payload_state(fields: Iterable[Field], vendor: str | None) -> AuthState | None:
    """``yes`` with the field that says so when a tracker's payload reports a login, else None."""
    rules, keys = _rules_for(vendor)
    values = conventions().payload_values
    for f in fields:
        value = f.value.strip().lower()
        if value in _FALSY:
            continue
        leaf = key_parts(f.path)[1] if keys else ""
        if leaf in keys:
            for rule in rules:
                if leaf in rule.keys and (not rule.values or value in rule.values):
                    return AuthState(YES, f"tracker field {f.path} says the visitor is logged in")
        if value in values:
            return AuthState(YES, f"tracker field {f.path} is '{f.value[:40]}'")
    return None


def portal_hint(url: str | None) -> str | None:
    """The reason a page's path suggests a portal behind a login (a weak signal), or None."""
    if not url:
        return None
    path = (parse_url(url).path or "/").lower()
    path = path if path.endswith("/") else path + "/"
    for prefix in conventions().portal_paths:
        if prefix in path:
            return f"page path has '{prefix}', where portals usually are (weak signal)"
    return None
