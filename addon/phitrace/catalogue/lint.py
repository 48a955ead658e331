"""Check signature files against ``signatures/schema.json`` and the catalogue's rules.

The schema check is the loader's own (:mod:`phitrace.catalogue.schema`), but
where :func:`phitrace.catalogue.loader.load_file` stops at the first problem,
so that the proxy refuses a broken catalogue quickly, the linter reports
every problem it can find, each as ``file:line: message``, and adds the
rules that keep the bundled catalogue tidy: ids equal file names, each
signature carries a vector for itself, a field key has one role, and no
host is claimed whole by two vendors.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from phitrace.catalogue import schema
from phitrace.catalogue.loader import compose, parse_signature, read_document, signature_files
from phitrace.catalogue.model import MANY_WILDCARDS, Problem, Signature, SignatureError, wildcards


def _globs(sig: Signature) -> Iterator[tuple[list[Any], str, str]]:
    """Every glob of a signature, with the mapping path and key where it is written."""
    for index, ep in enumerate(sig.endpoints):
        where: list[Any] = ["endpoints", index]
        for host in ep.hosts:
            yield where, "hosts", host
        for glob in ep.path_globs:
            yield where, "paths", glob
        for key, values in (("params", ep.params), ("body", ep.body)):
            for _, value in values:
                yield where, key, value.text
    for rule in sig.fields:
        yield ["fields"], rule.role, rule.source


def _wildcard_problems(file: str, sig: Signature, root: yaml.Node | None) -> Iterator[Problem]:
    """Globs with many wildcards: almost surely a mistake, and costly on every request."""
    for where, key, glob in _globs(sig):
        count = wildcards(glob)
        if count > MANY_WILDCARDS:
            yield Problem(
                file,
                schema.key_line(root, where, key),
                f"glob {glob!r} has {count} wildcards; use at most {MANY_WILDCARDS} "
                "(long literal pieces match faster and more precisely)",
            )


def _semantic_problems(path: Path, sig: Signature, root: yaml.Node | None) -> Iterator[Problem]:
    file = str(path)
    yield from _wildcard_problems(file, sig, root)
    if sig.id != path.stem:
        line = schema.key_line(root, [], "id")
        yield Problem(file, line, f"id {sig.id!r} must equal the file name {path.stem!r}")
    if not any((t.get("expect") or {}).get("vendor") == sig.id for t in sig.tests):
        line = schema.key_line(root, [], "tests")
        yield Problem(file, line, f"needs at least one test vector expecting vendor {sig.id!r}")
    roles: dict[str, str] = {}
    for rule in sig.fields:
        other = roles.setdefault(rule.source, rule.role)
        if other != rule.role:
            line = schema.key_line(root, ["fields"], rule.role)
            message = f"field key {rule.source!r} is listed under both {other} and {rule.role}"
            yield Problem(file, line, message)


def lint_file(path: Path) -> tuple[list[Problem], list[Signature]]:
    """Every problem in one file, and the signatures it holds when it has none."""
    file = str(path)
    try:
        data, text = read_document(path)
    except SignatureError as exc:
        return [exc.problem], []
    root = compose(text)
    problems = schema.problems(file, data, root)
    if problems:
        return problems, []
    signature = parse_signature(data, file, text=text)
    problems = list(_semantic_problems(path, signature, root))
    return problems, [signature] if not problems else []


def _catalogue_problems(signatures: Sequence[Signature]) -> Iterator[Problem]:
    """Problems between files: duplicate ids, and a bare host claimed twice."""
    seen_ids: dict[str, str] = {}
    bare_hosts: dict[str, str] = {}
    for sig in signatures:
        if sig.id in seen_ids:
            message = f"duplicate signature id {sig.id!r}, also used by {seen_ids[sig.id]}"
            yield Problem(sig.file, 1, message)
        seen_ids.setdefault(sig.id, sig.file)
        for ep in sig.endpoints:
            if ep.paths or ep.params or ep.body or ep.methods:
                continue
            for host in ep.hosts:
                owner = bare_hosts.setdefault(host, sig.id)
                if owner != sig.id:
                    yield Problem(
                        sig.file, 1, f"host {host!r} is claimed whole by both {owner} and {sig.id}"
                    )


def lint_paths(paths: Iterable[Path] = (), *, bundled: bool = True) -> list[Problem]:
    """Lint the bundled catalogue (optionally) and extra files or directories."""
    try:
        files = signature_files(paths, bundled=bundled)
    except SignatureError as exc:
        return [exc.problem]
    problems: list[Problem] = []
    signatures: list[Signature] = []
    for file in files:
        found, parsed = lint_file(file)
        problems += found
        signatures += parsed
    problems += _catalogue_problems(signatures)
    return problems
