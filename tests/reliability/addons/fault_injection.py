"""Test-only mitmproxy script: makes one phitrace pipeline stage raise for chosen requests.

Load it after phitrace (a second ``-s``).  A request whose URL carries
``phitrace_fault=STAGE`` (match, decode, detect, assess, enforce, show or store)
makes that stage raise :class:`InjectedFault` while phitrace handles it; every
other request goes through the real code.  phitrace itself knows nothing of this:
the script replaces the stage functions in phitrace's modules from outside.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import phitrace.analyzer as pipeline
import phitrace.catalogue.matcher as matcher
import phitrace.proxy.enforcement as enforcement
import phitrace.proxy.view as view
import phitrace.store.writer as store
from phitrace.model import Request

STAGES = ("match", "decode", "detect", "assess", "enforce", "show", "store")


class InjectedFault(RuntimeError):
    """The failure this script injects."""


_analysing = threading.local()


def _faulty(request: Request | None, stage: str) -> bool:
    return request is not None and f"phitrace_fault={stage}" in request.url


def _current() -> Request | None:
    return getattr(_analysing, "request", None)


def _wrap(stage: str, original: Callable[..., Any], request_of: Callable[..., Any]) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _faulty(request_of(*args, **kwargs), stage):
            raise InjectedFault(f"injected failure in the {stage} stage")
        return original(*args, **kwargs)

    return wrapper


def _track(original: Callable[..., Any]) -> Any:
    """Remember which request the analyser is working on, for stages that do not see it."""

    def analyse(self: pipeline.Analyzer, request: Request, *args: Any) -> Any:
        _analysing.request = request
        try:
            return original(self, request, *args)
        finally:
            _analysing.request = None

    return analyse


def install() -> None:
    """Replace each stage's function with one that fails on request."""
    if getattr(pipeline, "_faults_installed", False):
        return
    pipeline.Analyzer.analyse = _track(pipeline.Analyzer.analyse)  # type: ignore[method-assign]
    catalogue = matcher.Catalogue
    catalogue.match = _wrap("match", catalogue.match, lambda _self, request, *_: request)  # type: ignore[method-assign]
    pipeline.decode_request = _wrap("decode", pipeline.decode_request, lambda request, *_: request)
    pipeline.detect_health = _wrap("detect", pipeline.detect_health, lambda *_: _current())
    pipeline.assess = _wrap("assess", pipeline.assess, lambda *_, **__: _current())
    # Redact mode's rewrite, and the verdict shown in mitmweb and on the console (which
    # runs after the flow has been changed).
    enforcement.redact = _wrap("enforce", enforcement.redact, lambda request, *_: request)
    view.summary = _wrap("show", view.summary, lambda analysis: analysis.request)
    store.write_records = _wrap(
        "store",
        store.write_records,
        lambda _db, records, *_: next(
            (r.analysis.request for r in records if _faulty(r.analysis.request, "store")), None
        ),
    )
    store.write_record = _wrap(
        "store", store.write_record, lambda _db, record, *_: record.analysis.request
    )
    pipeline._faults_installed = True  # type: ignore[attr-defined]


install()
addons: list[object] = []
