"""Which company owns a domain: the catalogue's companies plus entity maps the user imports.

A third party the catalogue does not know is recorded as
``third-party:<registrable domain>``; a report reader still wants to know that
``doubleclick.net`` is Google.  Names come from two places, strongest first:
the catalogue's ``company`` fields (for the hosts of its endpoints), then entity
maps imported with ``phitrace entities import FILE``.  No entity map ships
with phitrace: the common ones carry non-commercial licences, so each user
imports the one they may use.

Imported maps are normalised to ``{"domains": {domain: company}}`` JSON files in
``$PHITRACE_ENTITIES``, else ``$XDG_DATA_HOME/phitrace/entities``, else
``~/.local/share/phitrace/entities``.  The formats read on import:

- a plain map of entity → domains (``{"Google LLC": ["google.com", …]}``);
- a map of entity → object with ``domains`` or ``properties``/``resources``
  lists (DuckDuckGo's entity map and tracker data set, Disconnect's
  ``entities.json``), optionally under a top-level ``entities`` key;
- a list of owner objects with ``owner_name`` (or ``name``) and ``domains``,
  whose ``parent_id`` names the parent company (webXray's domain owners).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phitrace.resources import user_data_dir
from phitrace.store.private import write_private
from phitrace.urls import registrable_domain

log = logging.getLogger(__name__)

ENTITIES_ENV = "PHITRACE_ENTITIES"
MAX_ENTITY_BYTES = 64 * 1024 * 1024
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")
_SLUG = re.compile(r"[^a-z0-9]+")


class EntityError(ValueError):
    """An entity map cannot be read or has no usable entries."""


def entities_dir() -> Path:
    """Where imported entity maps live: ``$PHITRACE_ENTITIES`` or the user's data directory."""
    return user_data_dir("entities", ENTITIES_ENV)


def _domain(value: Any) -> str | None:
    """A lower-cased domain name, or None for anything that is not one (URLs, globs, junk)."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower().rstrip(".")
    return text if len(text) <= 253 and _DOMAIN.match(text) else None


def _owned(entity: str, domains: Iterable[Any], into: dict[str, str]) -> None:
    name = entity.strip() if isinstance(entity, str) else ""
    if not name:
        return
    for value in domains:
        domain = _domain(value)
        if domain is not None:
            into.setdefault(domain, name)


def _domains_of(spec: Any) -> list[Any]:
    """The domain lists an entity object carries, in any of the common spellings."""
    if isinstance(spec, list):
        return spec
    if isinstance(spec, Mapping):
        found: list[Any] = []
        for key in ("domains", "properties", "resources"):
            values = spec.get(key)
            if isinstance(values, list):
                found.extend(values)
        return found
    return []


def _from_owner_list(owners: list[Any], into: dict[str, str]) -> None:
    by_id = {o.get("id"): o for o in owners if isinstance(o, Mapping) and "id" in o}
    for owner in owners:
        if not isinstance(owner, Mapping):
            continue
        top, seen = owner, set()
        # The parent company owns its subsidiaries' domains (DoubleClick → Google).
        while top.get("parent_id") in by_id and top.get("parent_id") not in seen:
            seen.add(top["parent_id"])
            top = by_id[top["parent_id"]]
        name = top.get("owner_name") or top.get("name") or ""
        _owned(name, _domains_of(owner), into)


def parse_entities(data: Any, source: str) -> dict[str, str]:
    """Domain → company from any of the supported formats; EntityError when none is found."""
    owned: dict[str, str] = {}
    if isinstance(data, Mapping) and isinstance(data.get("entities"), Mapping):
        data = data["entities"]
    if isinstance(data, list):
        _from_owner_list(data, owned)
    elif isinstance(data, Mapping):
        for entity, spec in data.items():
            _owned(entity, _domains_of(spec), owned)
    else:
        raise EntityError(f"{source}: expected a JSON object or list of entities")
    if not owned:
        raise EntityError(f"{source}: no entity with a domain found; is it an entity map?")
    return owned


@dataclass(frozen=True)
class ImportedEntities:
    """What one import wrote."""

    name: str
    path: Path
    domains: int
    entities: int


def import_entities(
    source: Path, directory: Path | None = None, name: str | None = None
) -> ImportedEntities:
    """Check and normalise an entity map, then write it (0600) into the entities directory."""
    try:
        if source.stat().st_size > MAX_ENTITY_BYTES:
            raise EntityError(f"{source}: larger than {MAX_ENTITY_BYTES // 2**20} MiB")
        data = json.loads(source.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, EntityError):
            raise
        raise EntityError(f"{source}: cannot read an entity map: {exc}") from exc
    owned = parse_entities(data, str(source))
    final = _SLUG.sub("-", (name or source.name.split(".")[0]).lower()).strip("-")
    if not final:
        raise EntityError(f"entity map name {name!r} has no letters or digits")
    target_dir = directory or entities_dir()
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = target_dir / f"{final}.json"
    write_private(target, json.dumps({"domains": owned}, sort_keys=True, ensure_ascii=False))
    return ImportedEntities(final, target, len(owned), len(set(owned.values())))


@dataclass
class Entities:
    """Company names by domain; a host is looked up by itself, then its parent domains."""

    owners: dict[str, str] = field(default_factory=dict)

    def company_of(self, host: str) -> str | None:
        """The company owning ``host`` (or the closest parent domain listed), if known."""
        host = host.lower().rstrip(".")
        site = registrable_domain(host)
        while host:
            company = self.owners.get(host)
            if company is not None:
                return company
            if host == site or "." not in host:
                return None
            host = host.partition(".")[2]
        return None

    def add(self, owners: Mapping[str, str]) -> None:
        """Add names for domains not named yet (earlier sources win)."""
        for domain, company in owners.items():
            self.owners.setdefault(domain, company)


def catalogue_owners(signatures: Iterable[Any]) -> dict[str, str]:
    """Domain → company for the exact hosts of every catalogue endpoint."""
    owned: dict[str, str] = {}
    for signature in signatures:
        for endpoint in signature.endpoints:
            for host in endpoint.hosts:
                domain = _domain(host)
                if domain is not None:
                    owned.setdefault(domain, signature.company)
    return owned


def load_entities(signatures: Iterable[Any] = (), directory: Path | None = None) -> Entities:
    """The catalogue's companies, then every imported map; a bad file is skipped with a warning."""
    entities = Entities()
    entities.add(catalogue_owners(signatures))
    folder = directory or entities_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_bytes())
            owners = data["domains"]
            if not isinstance(owners, dict):
                raise TypeError("'domains' is not an object")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping entity map %s: %s", path, exc)
            continue
        entities.add({str(k): str(v) for k, v in owners.items()})
    return entities
