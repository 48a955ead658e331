"""Check signature files against ``signatures/schema.json`` and the catalogue's rules.

Unlike :func:`phitrace.catalogue.signatures.load_file`, which stops at the first
problem so that the proxy refuses a broken catalogue quickly, the linter
reports every problem it can find, each as ``file:line: message``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from phitrace.catalogue.signatures import (
    YAML_LOADER,
    Signature,
    SignatureError,
    load_file,
    signature_files,
)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a signature file, and where."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of a signature file, as shipped in ``signatures/schema.json``."""
    from phitrace.resources import data_dir

    return dict(json.loads((data_dir("signatures") / "schema.json").read_text("utf-8")))


def _where(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _node_at(root: yaml.Node, path: Sequence[Any]) -> yaml.Node:
    """The YAML node that a JSON-Schema error path points at (as deep as it goes)."""
    node = root
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            found = node.value[part] if part < len(node.value) else None
        else:
            found = None
        if found is None:
            break
        node = found
    return node


def _key_line(node: yaml.Node, key: str) -> int:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _message(error: Any) -> tuple[str, str | None]:
    """A readable message for a schema error, and the key it is about (if any)."""
    where = _where(list(error.absolute_path))
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [k for k in value if k not in instance]
        return f"{where}: missing required key(s) {', '.join(map(repr, missing))}", None
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in allowed)
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key(s) {', '.join(map(repr, extra))}{hint}", extra[0]
    if kind == "enum" and "propertyNames" in error.schema_path:
        return f"{where}: {instance!r} is not an allowed name; use one of {', '.join(value)}", None
    if kind == "enum":
        return f"{where} must be one of {', '.join(map(str, value))}, not {instance!r}", None
    if kind == "propertyNames":
        return f"{where}: {instance!r} is not an allowed name", None
    if kind == "pattern":
        return f"{where} {instance!r} does not match the pattern {value}", None
    if kind == "type":
        return f"{where} must be of type {value}, not {type(instance).__name__}", None
    if kind in ("minItems", "minProperties", "minLength"):
        return f"{where} must not be empty", None
    if kind == "anyOf" and {"required": ["hosts"]} in value:
        return (
            f"{where}: an endpoint needs 'hosts', or 'paths' together with 'params' "
            "or 'body' (a request shape that fits any host)",
            None,
        )
    if kind == "anyOf":
        return f"{where} must be a string or a non-empty list of strings", None
    return f"{where}: {error.message}", None


def _schema_problems(file: str, data: Any, root: yaml.Node) -> list[Problem]:
    from jsonschema import Draft202012Validator

    problems = []
    for error in Draft202012Validator(schema()).iter_errors(data):
        message, key = _message(error)
        node = _node_at(root, list(error.absolute_path))
        line = _key_line(node, key) if key else int(node.start_mark.line) + 1
        problems.append(Problem(file, line, message))
    return problems


def _as_problem(exc: SignatureError, file: str) -> Problem:
    text = str(exc)
    head, _, message = text.partition(": ")
    line = head.rsplit(":", 1)[-1]
    return Problem(file, int(line) if line.isdigit() else 1, message or text)


def _semantic_problems(path: Path, sig: Signature, root: yaml.Node) -> Iterator[Problem]:
    file = str(path)
    if sig.id != path.stem:
        line = _key_line(root, "id")
        yield Problem(file, line, f"id {sig.id!r} must equal the file name {path.stem!r}")
    if not any((t.get("expect") or {}).get("vendor") == sig.id for t in sig.tests):
        line = _key_line(root, "tests")
        yield Problem(file, line, f"needs at least one test vector expecting vendor {sig.id!r}")
    roles: dict[str, str] = {}
    for rule in sig.fields:
        other = roles.setdefault(rule.source, rule.role)
        if other != rule.role:
            line = _key_line(_node_at(root, ["fields"]), rule.role)
            message = f"field key {rule.source!r} is listed under both {other} and {rule.role}"
            yield Problem(file, line, message)


def lint_file(path: Path) -> tuple[list[Problem], list[Signature]]:
    """Every problem in one file, and the signatures it holds when it has none."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        roots = list(yaml.compose_all(text, Loader=YAML_LOADER))
        docs = list(yaml.load_all(text, Loader=YAML_LOADER))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        return [Problem(file, mark.line + 1 if mark else 1, f"not valid YAML: {problem}")], []
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem(file, 1, f"cannot read: {exc}")], []
    if len(roots) != 1 or roots[0] is None:
        return [Problem(file, 1, f"a file holds one signature; found {len(roots)} documents")], []
    problems = _schema_problems(file, docs[0], roots[0])
    if problems:
        return sorted(problems), []
    try:
        signatures = load_file(path)
    except SignatureError as exc:
        return [_as_problem(exc, file)], []
    problems = [p for sig in signatures for p in _semantic_problems(path, sig, roots[0])]
    return problems, signatures if not problems else []


def _catalogue_problems(signatures: Sequence[Signature]) -> Iterator[Problem]:
    """Problems between files: duplicate ids, and a bare host claimed twice."""
    seen_ids: dict[str, str] = {}
    bare_hosts: dict[str, str] = {}
    for sig in signatures:
        if sig.id in seen_ids:
            yield Problem(sig.file, 1, f"id {sig.id!r} is also used by {seen_ids[sig.id]}")
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
        return [_as_problem(exc, str(exc).split(":", 1)[0])]
    problems: list[Problem] = []
    signatures: list[Signature] = []
    for file in files:
        found, parsed = lint_file(file)
        problems += found
        signatures += parsed
    problems += _catalogue_problems(signatures)
    return problems
