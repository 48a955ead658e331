"""phitrace's mitmproxy options: declared once, checked when set, made into analyzer and scope."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mitmproxy import ctx, exceptions

from phitrace.act.enforce import MODES
from phitrace.act.sinkhole import SINKHOLE_SCOPES
from phitrace.analyzer import Analyzer
from phitrace.assess.policy import Policy, PolicyError
from phitrace.assess.policy_file import load_policy
from phitrace.catalogue.entities import load_entities
from phitrace.catalogue.lists import load_blocklist
from phitrace.catalogue.loader import load_catalogue
from phitrace.catalogue.matcher import Catalogue
from phitrace.catalogue.model import SignatureError
from phitrace.detect.canaries import NO_CANARIES, CanaryError, load_canaries
from phitrace.detect.vocabulary import load_vocabulary
from phitrace.model import SEVERITIES
from phitrace.proxy.limits import LIMIT_NAMES, add_limit_options, limits_from
from phitrace.proxy.scope import Scope, parse_domains, parse_filter
from phitrace.proxy.state import ProxyState
from phitrace.store.rows import MAX_STORED_BODY, STORAGE_MODES
from phitrace.store.target import default_target

CONSENT = ("", "none", "accepted", "rejected")
CHOICES: dict[str, tuple[str, ...]] = {
    "phitrace_mode": MODES,
    "phitrace_block_severity": SEVERITIES[:3],
    "phitrace_consent": CONSENT,
    "phitrace_storage": STORAGE_MODES,
    "phitrace_sinkhole_scope": SINKHOLE_SCOPES,
}
SCOPE_OPTIONS = frozenset({"phitrace_scope", "phitrace_filter"})


def check_choices(options: Any, updated: set[str]) -> None:
    """Refuse a value outside an option's choices.

    mitmproxy checks choices only for options that have their own command-line
    flag; ``--set`` and the option editors accept any text.
    """
    for name in sorted(updated & CHOICES.keys()):
        value = getattr(options, name)
        if value not in CHOICES[name]:
            allowed = ", ".join(c for c in CHOICES[name] if c)
            raise exceptions.OptionsError(f"{name} must be one of {allowed}, not {value!r}")


def split_values(values: Iterable[str]) -> list[str]:
    """List option values, each of which may still hold several, comma-separated (as before)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def build_scope(options: Any) -> Scope:
    """The scope the options set; an OptionsError when the filter does not parse."""
    expression = options.phitrace_filter.strip()
    try:
        matches = parse_filter(expression)
    except ValueError as exc:
        raise exceptions.OptionsError(
            f"Cannot parse phitrace_filter option {expression!r}: {exc}. "
            "Use a mitmproxy filter expression such as '~d portal.example'."
        ) from exc
    return Scope(parse_domains(options.phitrace_scope), expression, matches)


def build_analyzer(options: Any) -> Analyzer:
    """Load the catalogue, canaries, vocabulary and imported lists the options name."""
    extra = [Path(p) for p in split_values(options.phitrace_signatures)]
    try:
        catalogue = load_catalogue(extra)
    except SignatureError as exc:
        raise exceptions.OptionsError(f"Cannot load phitrace_signatures: {exc}") from exc
    canaries = NO_CANARIES
    if options.phitrace_canaries:
        try:
            canaries = load_canaries(Path(options.phitrace_canaries))
        except CanaryError as exc:
            raise exceptions.OptionsError(f"Cannot load phitrace_canaries: {exc}") from exc
    # Requests no signature claims are still flagged when an imported list
    # (`phitrace signatures import`) blocks them, as vendor 'list:<name>'.
    # Build the matcher now, before the proxy listens: built lazily, the first
    # tracker request would stall the event loop for seconds.
    vocabulary = load_vocabulary().prepare()
    return Analyzer(
        catalogue,
        vocabulary,
        canaries,
        limits=limits_from(options),
        blocklist=load_blocklist(),
        entities=load_entities(catalogue.signatures),
        policy=build_policy(options, catalogue),
    )


def build_policy(options: Any, catalogue: Catalogue) -> Policy | None:
    """The policy file the options name (None for none); its problems refuse the option."""
    if not options.phitrace_policy:
        return None
    known = frozenset(sig.id for sig in catalogue.signatures)
    try:
        return load_policy(Path(options.phitrace_policy), known)
    except PolicyError as exc:
        raise exceptions.OptionsError(f"Cannot load phitrace_policy: {exc}") from exc


def settle_heap(replaces: bool) -> None:
    """Keep the analyzer just built out of the garbage collector's sight from now on.

    Its catalogue and vocabulary are tens of thousands of objects that live
    as long as the proxy; every full collection would walk them all again, in a
    pause of the event loop.  Frozen, they are skipped (and stay shared, not
    copied, in the analysis worker).  A replaced analyzer is collected first.
    """
    if replaces:
        gc.unfreeze()
    gc.collect()  # nothing that is already garbage is frozen
    gc.freeze()


class Options:
    """Declares phitrace's options and keeps the shared analyzer and scope in step with them."""

    name = "phitrace_options"
    """Its name in mitmproxy, which must be unique: mitmweb and mitmproxy have a 'view'."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state

    def load(self, loader: Any) -> None:
        loader.add_option(
            "phitrace_db",
            str,
            default_target(),
            "Database that phitrace records flagged flows and findings in: a SQLite file, or "
            "postgresql://user@host:port/dbname (default: $PHITRACE_DB, else phitrace.db).",
        )
        loader.add_option(
            "phitrace_sinkhole",
            bool,
            False,
            "Answer tracker requests locally (CORS preflights, pixels, beacons) instead "
            "of forwarding them, in scope or not; phitrace_sinkhole_scope says which. Sets "
            "connection_strategy=lazy so nothing is dialled first.",
        )
        loader.add_option(
            "phitrace_sinkhole_scope",
            str,
            "third-party",
            "What the sinkhole answers: third-party (every beacon to another site: CORS "
            "preflights, sends, pixels and fetches with data; documents, scripts, styles and "
            "fonts still load, so pages render, every SDK's payload leaves the browser and is "
            "captured, and no third party receives it), catalogue (only catalogued and listed "
            "trackers) or all (every request to another site, scripts too).",
            choices=CHOICES["phitrace_sinkhole_scope"],
        )
        loader.add_option(
            "phitrace_mode",
            str,
            "passive",
            "What to do with tracker requests that carry findings: passive (forward them "
            "untouched), block (answer them locally), redact (forward them with sensitive "
            "values removed).",
            choices=CHOICES["phitrace_mode"],
        )
        loader.add_option(
            "phitrace_block_severity",
            str,
            "medium",
            "In block and redact modes, act on requests at or above this severity.",
            choices=CHOICES["phitrace_block_severity"],
        )
        loader.add_option(
            "phitrace_signatures",
            Sequence[str],
            [],
            "Extra tracker signature files or directories, loaded after the bundled "
            "catalogue. Repeat the option for several (a comma-separated value also works).",
        )
        loader.add_option(
            "phitrace_canaries",
            str,
            "",
            "YAML file of test-persona values ('canaries: {email: ...}') to search every "
            "request for, plain, encoded or hashed.",
        )
        loader.add_option(
            "phitrace_policy",
            str,
            "",
            "The organisation's policy file (YAML): vendors under a business associate "
            "agreement, vendors allowed on some pages, per-category severity overrides. "
            "Findings record the rule that accepts them (findings.policy).",
        )
        loader.add_option("phitrace_label", str, "", "Label stored on the recording session.")
        loader.add_option(
            "phitrace_consent",
            str,
            "",
            "What the tester answered the site's consent banner: none, accepted or rejected "
            "(stored on the session).",
            choices=CHOICES["phitrace_consent"],
        )
        loader.add_option(
            "phitrace_scope",
            Sequence[str],
            [],
            "Only analyse and record requests made from pages of these domains (subdomains "
            "included); repeat the option for several domains (a comma-separated value also "
            "works). Empty: every page. Scope never stops the sinkhole answering a tracker.",
        )
        loader.add_option(
            "phitrace_filter",
            str,
            "",
            "Only analyse and record flows that match this mitmproxy filter expression, "
            "e.g. '~d portal.example | ~hq \"Referer: https://portal.example\"'. With "
            "phitrace_scope, a flow must pass both. Empty: every flow.",
        )
        loader.add_option(
            "phitrace_store_bodies",
            bool,
            True,
            "Store raw request headers and bodies as evidence (disable to keep only findings).",
        )
        loader.add_option(
            "phitrace_max_stored_body_bytes",
            int,
            MAX_STORED_BODY,
            "Store at most this many bytes of a raw request body (the rest is cut; the "
            "flow keeps the whole body's length and SHA-256). -1: no cap.",
        )
        loader.add_option(
            "phitrace_storage",
            str,
            "full",
            "What is kept of a flagged flow: full (URLs, values found and, with "
            "phitrace_store_bodies, the raw request) or redact (URLs cut to their origin, "
            "values replaced by SHA-256 digests, no raw request).",
            choices=CHOICES["phitrace_storage"],
        )
        loader.add_option(
            "phitrace_report",
            str,
            "phitrace-report.html",
            "File the phitrace.report command writes.",
        )
        add_limit_options(loader)

    def configure(self, updated: set[str]) -> None:
        options = ctx.options
        # Values are checked first: a bad one must be refused before anything changes.
        check_choices(options, updated)
        scope = build_scope(options) if updated & SCOPE_OPTIONS else self.state.scope
        state = self.state
        rebuild = {"phitrace_signatures", "phitrace_canaries", "phitrace_policy"}
        if updated & rebuild or state.analyzer is None:
            replaces = state.analyzer is not None
            state.analyzer = build_analyzer(options)
            settle_heap(replaces)
        elif updated & LIMIT_NAMES:
            state.analyzer.limits = limits_from(options)
        state.scope = scope
        answering = options.phitrace_sinkhole or options.phitrace_mode == "block"
        if updated & {"phitrace_sinkhole", "phitrace_mode"} and answering:
            # Nothing may be dialled before phitrace answers: a blocked tracker must not
            # even see a connection, and offline an eager dial fails the whole flow.
            if "connection_strategy" in options and options.connection_strategy != "lazy":
                options.update(connection_strategy="lazy")
