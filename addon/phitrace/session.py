"""Session memory: what one capture session has learnt, kept apart from the pure analysis.

The :class:`~phitrace.analyzer.Analyzer` gives the same analysis of a request
whatever came before, unless a :class:`Session` is passed: the session holds
the linkage memory (which vendor ids travelled with identifiers and health
data), the page tracker (which document each origin last loaded), the page
records (whether a page was logged in, what health content it showed) and the
counters a live view shows.  One session is made per scanned file, per proxy
recording session and per ``phitrace.session`` command, so nothing learnt in
one capture changes the verdicts of another.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from phitrace.assess.linkage import Linker
from phitrace.capture.pagerecords import PageRecords
from phitrace.capture.pages import PageTracker
from phitrace.capture.parties import Inventory


@dataclass
class Session:
    """The mutable state of one capture session."""

    label: str = ""
    linker: Linker = field(default_factory=Linker)
    """Vendor ids seen with identifiers or health data earlier in this session."""
    pages: PageTracker = field(default_factory=PageTracker)
    """The document each origin last loaded, to resolve origin-only Referers."""
    records: PageRecords = field(default_factory=PageRecords)
    """Per page: logged in or not, and the health content seen on it."""
    parties: Inventory = field(default_factory=Inventory)
    """Every third-party domain the session's requests went to."""
    severities: Counter[str] = field(default_factory=Counter)
    """Flagged flows so far, by severity."""
    vendors: Counter[str] = field(default_factory=Counter)
    """Flagged flows so far, by vendor."""
    errors: int = 0
    """Internal errors caught (fail open) while this session recorded."""
