"""Validate signature documents against ``signatures/schema.json``; problems as ``file:line``.

The loader and the linter both validate here, so the file format has one
definition.  Loading asks the compiled yes-or-no check of
:mod:`phitrace.catalogue.checker` (jsonschema would cost a proxy start about
as much again as parsing the catalogue); only an invalid document, or the
linter, brings in jsonschema to say what is wrong and where.  Lines come from
the YAML node tree, composed only then.  A subschema may carry
``errorMessage``, a mapping from a keyword to the sentence shown when that
keyword fails.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import yaml

from phitrace.catalogue.checker import Check, compile_check
from phitrace.catalogue.model import Problem

if TYPE_CHECKING:  # jsonschema is imported only to explain an invalid document
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of a signature file, as shipped in ``signatures/schema.json``."""
    from phitrace.resources import data_dir

    return dict(json.loads((data_dir("signatures") / "schema.json").read_text("utf-8")))


def inline_refs(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with each local ``{"$ref": "#/$defs/x"}`` replaced by the definition.

    A definition that refers to itself, directly or not, is left as a
    reference, so that inlining always ends.
    """
    defs: dict[str, Any] = document.get("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) == 1 and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in defs and name not in seen:
                return inline(defs[name], (*seen, name))
        return {key: inline(value, seen) for key, value in node.items()}

    return dict(inline(document, ()))


@lru_cache(maxsize=1)
def check() -> Check:
    """The compiled yes-or-no check of signature documents, built once per process."""
    return compile_check(inline_refs(schema()))


@lru_cache(maxsize=1)
def validator() -> Draft202012Validator:
    """jsonschema's validator of signature documents (with references inlined), built once."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(inline_refs(schema()))


def is_valid(data: Any) -> bool:
    """True when ``data`` is a valid signature document: the fast path of loading."""
    return check()(data)


def problems(
    file: str, data: Any, root: yaml.Node | None, against: Draft202012Validator | None = None
) -> list[Problem]:
    """Every schema problem of one document, in line order, each naming its line.

    ``root`` is the document's YAML node tree; without one (a document built
    in code) every problem is on line 1.  ``against`` is another file format's
    validator (a policy file's); the signature schema by default.
    """
    found = []
    for error in (against or validator()).iter_errors(data):
        cause, message, key = explain(error)
        line = 1
        if root is not None:
            node = _node_at(root, list(cause.absolute_path))
            line = _key_line(node, key) if key else int(node.start_mark.line) + 1
        found.append(Problem(file, line, message))
    return sorted(found)


def where(path: Sequence[Any]) -> str:
    """A JSON path as written in messages: ``endpoints[0].hosts``."""
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


def key_line(root: yaml.Node | None, path: Sequence[Any], key: str) -> int:
    """The line of ``key`` in the mapping at ``path`` (or of that mapping when it lacks one)."""
    return 1 if root is None else _key_line(_node_at(root, path), key)


def value_line(root: yaml.Node | None, path: Sequence[Any]) -> int:
    """The line of the value at ``path`` (a list item, say), or of the deepest node it reaches."""
    return 1 if root is None else int(_node_at(root, path).start_mark.line) + 1


def _key_line(node: yaml.Node, key: str) -> int:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return int(node.start_mark.line) + 1


def _fitting_branch(error: ValidationError) -> ValidationError | None:
    """For a failed ``anyOf``: the first error of a branch whose type the value has.

    ``hosts: ["a b"]`` fails the list branch on its pattern and the string
    branch on its type; the pattern is what the user needs to hear about.
    """
    for sub in error.context or ():
        if sub.validator != "type" or sub.relative_path:
            return sub
    return None


def explain(error: ValidationError) -> tuple[ValidationError, str, str | None]:
    """The error to point at, a readable message for it, and the key it is about (if any)."""
    kind, instance = error.validator, error.instance
    custom = error.schema.get("errorMessage", {}) if isinstance(error.schema, dict) else {}
    at = where(list(error.absolute_path))
    if kind == "anyOf" and kind not in custom:
        branch = _fitting_branch(error)
        if branch is not None:
            return explain(branch)
        return error, f"{at} must be a string or a non-empty list of strings", None
    if kind in custom and kind != "additionalProperties":
        if isinstance(instance, (dict, list)):
            return error, f"{at}: {custom[kind]}", None
        return error, f"{at} {instance!r} {custom[kind]}", None
    return (error, *_standard_message(error, at, custom))


def _standard_message(
    error: ValidationError, at: str, custom: dict[str, str]
) -> tuple[str, str | None]:
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [k for k in value if k not in instance]
        return f"{at}: missing required key(s) {', '.join(map(repr, missing))}", None
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in instance if k not in allowed)
        hint = f"; allowed: {', '.join(allowed)}" if allowed else ""
        label = custom.get(kind, "unknown key(s)")
        return f"{at}: {label} {', '.join(map(repr, extra))}{hint}", extra[0]
    if kind == "enum" and "propertyNames" in error.schema_path:
        return f"{at}: {instance!r} is not an allowed name; use one of {', '.join(value)}", None
    if kind == "enum":
        return f"{at} must be one of {', '.join(map(str, value))}, not {instance!r}", None
    if kind == "propertyNames":
        return f"{at}: {instance!r} is not an allowed name", None
    if kind == "pattern":
        return f"{at} {instance!r} does not match the pattern {value}", None
    if kind == "type":
        return f"{at} must be of type {value}, not {type(instance).__name__}", None
    if kind == "minItems":
        return f"{at} must be a non-empty list", None
    if kind == "minProperties":
        return f"{at} must be a non-empty mapping", None
    if kind == "minLength":
        return f"{at} must be a non-empty string", None
    return f"{at}: {error.message}", None
