"""Small signature documents shared by the catalogue tests, and a way to parse them."""

from __future__ import annotations

import yaml

from phitrace.catalogue.loader import parse_signature
from phitrace.catalogue.matcher import Catalogue
from phitrace.catalogue.model import Signature

BASE = "name: N\ncompany: C\ncategory: analytics\n"
TRACKER = "id: tracker\n" + BASE + "endpoints: [{hosts: [tracker.example]}]\n"
COLLECT = (
    "id: collect\n"
    + BASE
    + (
        "endpoints:\n"
        "  - {hosts: [x.example], paths: ['/c/*'], methods: [POST]}\n"
        "  - {hosts: ['region*.x.example'], paths: ['/g']}\n"
    )
)
SHAPE = (
    "id: shape\n"
    + BASE
    + (
        "endpoints:\n"
        "  - {paths: ['*/g/collect'], params: {v: '2', tid: 'G-*'}}\n"
        "  - {paths: ['*/v1/t'], methods: [POST],\n"
        "     body: {writeKey: '*', 'context.library.name': 'sdk*'}}\n"
    )
)
GOOD_FILE = """\
id: good
name: Good
company: Example
category: analytics
endpoints:
  - hosts: [good.example]
tests:
  - request: {url: "https://good.example/p"}
    expect: {vendor: good}
"""
"""A complete file that passes lint: the starting point of the file-level tests."""


def sig(doc: str, file: str = "test.yaml") -> Signature:
    """Parse one YAML signature document as the loader would (without its lines)."""
    return parse_signature(yaml.safe_load(doc), file)


def catalogue_of(*docs: str) -> Catalogue:
    """A catalogue of the given documents, one file name each."""
    return Catalogue(sig(d, f"s{i}.yaml") for i, d in enumerate(docs))
