"""Imported Adblock Plus lists (EasyPrivacy and the like) for trackers outside the catalogue.

``phitrace signatures import PATH`` copies a list into the lists directory
(``$PHITRACE_LISTS``, else ``$XDG_DATA_HOME/phitrace/lists``, else
``~/.local/share/phitrace/lists``).  The analyzer consults the lists only
after the catalogue has missed, and flags a listed request as
``vendor = "list:<name>"``.  No list is shipped with phitrace: EasyPrivacy and
most other lists carry licences of their own, so each user imports them.

Matching uses the ``adblock`` package (Python bindings to Brave's adblock-rust
engine): it passes adblock-rust's own matching tests and checks tens of
thousands of URLs a second (see ``tests/bench/bench_matching.py``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phitrace.model import Request, utf8_safe
from phitrace.resources import user_data_dir
from phitrace.store.private import write_private

log = logging.getLogger(__name__)

LISTS_ENV = "PHITRACE_LISTS"
MAX_LIST_BYTES = 32 * 1024 * 1024

_TITLE = re.compile(r"^!\s*Title:\s*(.+)$", re.MULTILINE)
_COSMETIC = ("##", "#@#", "#?#", "#$#", "#%#")

_FETCH_DEST = {
    "script": "script",
    "image": "image",
    "style": "stylesheet",
    "font": "font",
    "audio": "media",
    "video": "media",
    "track": "media",
    "iframe": "subdocument",
    "frame": "subdocument",
    "document": "document",
    "object": "object",
    "embed": "object",
    "empty": "xmlhttprequest",
}
_EXTENSIONS = {
    "js": "script",
    "mjs": "script",
    "gif": "image",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "webp": "image",
    "svg": "image",
    "ico": "image",
    "css": "stylesheet",
    "woff": "font",
    "woff2": "font",
    "ttf": "font",
    "html": "subdocument",
    "htm": "subdocument",
}


class BlockListError(ValueError):
    """An imported list cannot be read, named or compiled."""


def lists_dir() -> Path:
    """Where imported lists live: ``$PHITRACE_LISTS`` or the user's data directory."""
    return user_data_dir("lists", LISTS_ENV)


def slug(text: str) -> str:
    """A list name as used in ``list:<name>``: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def list_name(text: str, path: Path) -> str:
    """The list's ``! Title:`` header as a slug, else the file name without suffixes."""
    found = _TITLE.search(text[:4096])
    name = slug(found.group(1)) if found else ""
    return name or slug(path.name.split(".", 1)[0]) or "list"


def network_rules(text: str) -> list[str]:
    """The network (URL) rules of a list: no comments, headers or element-hiding rules."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("!", "[")) or any(c in line for c in _COSMETIC):
            continue
        rules.append(line)
    return rules


def resource_type(request: Request) -> str:
    """The request type an Adblock Plus rule option (``$script``, ``$image``…) refers to.

    Browsers say it in ``Sec-Fetch-Dest``; otherwise the path's extension and
    the method are the best guess.
    """
    dest = (request.header("sec-fetch-dest") or "").lower()
    if dest in _FETCH_DEST:
        return _FETCH_DEST[dest]
    if request.url.startswith(("ws://", "wss://")):
        return "websocket"
    last = request.path.rsplit("/", 1)[-1]
    ext = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    return "xmlhttprequest" if request.method.upper() == "POST" else "other"


def _read(path: Path, *, strict: bool = False) -> str:
    """A list file as text (gunzipped if needed); ``strict`` refuses what is not UTF-8 text."""
    try:
        if path.stat().st_size > MAX_LIST_BYTES:
            raise BlockListError(f"{path}: larger than {MAX_LIST_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        raise BlockListError(f"{path}: cannot read: {exc}") from exc
    if raw[:2] == b"\x1f\x8b":
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise BlockListError(f"{path}: not a readable gzip file: {exc}") from exc
    if not strict:
        return raw.decode("utf-8", "replace")
    if b"\x00" in raw:
        raise BlockListError(f"{path}: holds NUL bytes, so it is not an Adblock Plus list")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BlockListError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
            "is it an Adblock Plus list?"
        ) from exc


_PLAUSIBLE_RULE = re.compile(r"^[\x21-\x7e\u00a0-\uffff]{1,4096}$")
"""A network rule: no spaces or control characters (rules are URL patterns and options)."""
MIN_PLAUSIBLE_SHARE = 0.9
"""Without an ``[Adblock`` header, at least this share of the rules must look like rules."""


def check_list_text(text: str, rules: Sequence[str], source: Path) -> None:
    """Refuse text that is not an Adblock Plus list, before it is imported.

    A list normally starts with an ``[Adblock Plus …]`` header; without one,
    nearly every rule line must look like a URL pattern.
    """
    if not rules:
        raise BlockListError(f"{source}: no network rules found; is it an Adblock Plus list?")
    if text.lstrip()[:8].lower() == "[adblock":
        return
    plausible = sum(1 for rule in rules if _PLAUSIBLE_RULE.match(rule))
    if plausible < MIN_PLAUSIBLE_SHARE * len(rules):
        raise BlockListError(
            f"{source}: no [Adblock Plus] header and {len(rules) - plausible} of "
            f"{len(rules)} lines are not filter rules; is it an Adblock Plus list?"
        )


def _engine(rules: Sequence[str]) -> Any:
    try:
        import adblock
    except ImportError as exc:  # pragma: no cover - a dependency of phitrace
        raise BlockListError(
            "imported lists need the 'adblock' package — pip install adblock"
        ) from exc
    # debug=True keeps each rule's text, so a match can say which rule fired;
    # without the optimiser the engine builds faster and matches no slower.
    filters = adblock.FilterSet(debug=True)
    filters.add_filters(list(rules))
    return adblock.Engine(filters, optimize=False)


@dataclass(frozen=True)
class ListMatch:
    """A request that an imported list flags, and the rule that flagged it."""

    list_name: str
    rule: str

    @property
    def vendor(self) -> str:
        """The vendor id stored for such a flow: ``list:<name>``."""
        return f"list:{self.list_name}"

    @property
    def label(self) -> str:
        """The list and the rule that fired, shown where a vendor name would be."""
        return f"{self.list_name}: {self.rule}"


class BlockList:
    """Imported lists, each compiled once into an adblock engine."""

    def __init__(self, lists: Iterable[tuple[str, Sequence[str]]]) -> None:
        self._engines = [(name, _engine(rules)) for name, rules in lists]

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the lists, in the order they are consulted."""
        return tuple(name for name, _ in self._engines)

    def __len__(self) -> int:
        return len(self._engines)

    def check(self, url: str, source_url: str, request_type: str) -> ListMatch | None:
        """The first list whose rules block ``url`` loaded by ``source_url``, if any."""
        if not (url.isascii() and source_url.isascii()):
            # The engine takes UTF-8; undecodable bytes (lone surrogates) become escapes.
            url = utf8_safe(url)
            source_url = utf8_safe(source_url)
        for name, engine in self._engines:
            result = engine.check_network_urls(url, source_url, request_type)
            if result.matched:
                return ListMatch(name, result.filter or "")
        return None

    def match(self, request: Request) -> ListMatch | None:
        """Check one request; an unparsable URL is simply not listed."""
        source = request.page_url or request.header("referer") or ""
        return self.check(request.url, source, resource_type(request))


@dataclass(frozen=True)
class ImportedList:
    """What ``phitrace signatures import`` stored."""

    name: str
    path: Path
    rules: int


def import_list(
    source: Path, directory: Path | None = None, name: str | None = None
) -> ImportedList:
    """Check that ``source`` is an Adblock Plus list and copy it into the lists directory.

    The list is compiled once here, so a list that will not load is refused
    now rather than when the proxy starts.
    """
    text = _read(source, strict=True)
    rules = network_rules(text)
    check_list_text(text, rules, source)
    _engine(rules)
    final = slug(name) if name else list_name(text, source)
    if not final:
        raise BlockListError(f"list name {name!r} has no letters or digits")
    target_dir = directory or lists_dir()
    target = target_dir / f"{final}.txt"
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        write_private(target, text)
    except OSError as exc:
        raise BlockListError(f"cannot store the list in {target_dir}: {exc}") from exc
    return ImportedList(final, target, len(rules))


def imported_lists(directory: Path | None = None) -> list[Path]:
    """The list files in the lists directory, by name."""
    folder = directory or lists_dir()
    return sorted(folder.glob("*.txt")) if folder.is_dir() else []


def load_blocklist(directory: Path | None = None) -> BlockList | None:
    """Compile every imported list; None when there are none.

    A list that cannot be read is skipped with a warning, so one bad file
    never stops the proxy.
    """
    loaded = []
    for path in imported_lists(directory):
        try:
            loaded.append((path.stem, network_rules(_read(path))))
        except BlockListError as exc:
            log.warning("skipping imported list: %s", exc)
    return BlockList(loaded) if loaded else None
