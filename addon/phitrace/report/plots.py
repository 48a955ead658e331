"""The report's two plots as plain geometry: findings over time, and vendor × page.

Like the bar charts in :mod:`phitrace.report.views`, these are laid out here
and drawn as inline SVG by ``_plots.html.j2``: no script, and every label
reaches the page through the autoescaping template.  Each plot also carries
a one-sentence summary and its data as text, for screen readers and print.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from phitrace.model import SEVERITIES, severity_rank
from phitrace.report.views import clip
from phitrace.store.reader import Leak, url_parts

BUCKET_WIDTHS = (1, 5, 10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, 86_400, 7 * 86_400)
"""Candidate bucket widths in seconds: the narrowest giving at most :data:`MAX_BUCKETS` wins."""

MAX_BUCKETS = 24
MATRIX_VENDORS = 12
MATRIX_PAGES = 8
LABEL_CHARS = 22


def _seconds(timestamp: str) -> float | None:
    """A stored ISO timestamp as epoch seconds; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None


def bucket_width(span: float) -> int:
    """The narrowest candidate width that covers ``span`` seconds in at most MAX_BUCKETS."""
    for width in BUCKET_WIDTHS:
        if span < width * MAX_BUCKETS:
            return width
    return BUCKET_WIDTHS[-1]


def _clock(seconds: float, width: int) -> str:
    """A bucket's start as people read it: the date only for day-wide buckets."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if width >= 86_400:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M:%S" if width < 60 else "%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class Column:
    """One time bucket: where it starts and its stacked findings by severity."""

    label: str
    x: float
    segments: tuple[tuple[str, int, float, float], ...]
    """``(severity, count, y, height)``, most severe at the bottom."""
    total: int

    @property
    def title(self) -> str:
        """The bucket in words (its tooltip)."""
        counts = ", ".join(f"{n} {s}" for s, n, _, _ in self.segments)
        return f"{self.label}: {counts or 'no findings'}"


@dataclass(frozen=True)
class Timeline:
    """Geometry of the findings-over-time plot."""

    columns: tuple[Column, ...]
    bucket: str
    """The bucket width in words (``10 s``, ``5 min``, ``1 h``, ``1 d``)."""
    top: int
    width: int
    height: int
    base: int
    """The y of the time axis; bars rise from it."""
    column_width: float

    @property
    def bar_width(self) -> float:
        """Each bar's width: its column less a gap."""
        return round(max(1.0, self.column_width - 2), 1)

    @property
    def summary(self) -> str:
        """The plot in one sentence (its accessible name)."""
        if not self.columns:
            return "No findings to plot."
        busiest = max(self.columns, key=lambda c: c.total)
        return (
            f"Findings per {self.bucket} from {self.columns[0].label} to "
            f"{self.columns[-1].label}; the most, {busiest.total}, at {busiest.label}."
        )


def _width_words(width: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if width >= size and width % size == 0:
            return f"{width // size} {unit}"
    return f"{width} s"


def span_of(timestamps: Iterable[str]) -> tuple[float, float] | None:
    """The first and last of stored timestamps as epoch seconds; None when none is readable."""
    start = end = None
    for t in (_seconds(s) for s in timestamps):
        if t is not None:
            start = t if start is None else min(start, t)
            end = t if end is None else max(end, t)
    return None if start is None or end is None else (start, end)


class TimelineTally:
    """Findings counted into time buckets as they go by, over a span known beforehand.

    The span is the session's flows' (all of them, quiet ones too), which
    also holds every finding's time: a finding carries its flow's timestamp.
    """

    def __init__(self, span: tuple[float, float] | None) -> None:
        start, end = span or (0.0, 0.0)
        self._step = bucket_width(end - start)
        self._first = start - start % self._step
        count = int((end - self._first) // self._step) + 1 if span else 0
        self._counts: list[Counter[str]] = [Counter() for _ in range(count)]
        self._stamped = False

    def add(self, leak: Leak) -> None:
        """Count one finding in its bucket (a finding without a readable time is left out)."""
        t = _seconds(leak.timestamp)
        if t is not None and self._counts:
            index = min(max(int((t - self._first) // self._step), 0), len(self._counts) - 1)
            self._counts[index][leak.severity] += 1
            self._stamped = True

    def plot(self, width: int = 640) -> Timeline:
        """The plot's geometry."""
        height, base, left = 180, 150, 40
        counts, step = self._counts, self._step
        if not self._stamped:
            return Timeline((), "", 0, width, height, base, 0.0)
        top = max(sum(c.values()) for c in counts)
        col = (width - left - 10) / len(counts)
        columns = []
        for i, bucket in enumerate(counts):
            y, segments = float(base), []
            for severity in SEVERITIES:
                if bucket[severity]:
                    h = round((base - 10) * bucket[severity] / top, 1)
                    y = round(y - h, 1)
                    segments.append((severity, bucket[severity], y, h))
            label = _clock(self._first + i * step, step)
            columns.append(Column(label, round(left + i * col, 1), tuple(segments), bucket.total()))
        return Timeline(tuple(columns), _width_words(step), top, width, height, base, round(col, 1))


def timeline(leaks: Sequence[Leak], flow_times: Iterable[str], width: int = 640) -> Timeline:
    """Bucket the findings over the span of the session's flows (all of them, quiet ones too)."""
    tally = TimelineTally(span_of([*flow_times, *(leak.timestamp for leak in leaks)]))
    for leak in leaks:
        tally.add(leak)
    return tally.plot(width)


@dataclass(frozen=True)
class Label:
    """A row or column label: shown clipped, the full text in its tooltip."""

    short: str
    full: str


@dataclass(frozen=True)
class PageMatrix:
    """Geometry of the vendor × page plot: cells ``(count, heat)`` per vendor row."""

    vendors: tuple[Label, ...]
    pages: tuple[Label, ...]
    rows: tuple[tuple[tuple[int, int], ...], ...]
    cell: int
    left: int
    head: int

    @property
    def width(self) -> int:
        """The SVG's width, with room on the right for the slanted page labels."""
        return self.left + self.cell * len(self.pages) + 120

    @property
    def height(self) -> int:
        """The SVG's height."""
        return self.head + self.cell * len(self.vendors) + 10

    @property
    def summary(self) -> str:
        """The plot in one sentence (its accessible name)."""
        return (
            f"Findings per vendor (rows, {len(self.vendors)}) and page "
            f"(columns, the {len(self.pages)} pages with the most findings)."
        )


def page_label(page_key: str) -> str:
    """A page as the plot names it: host and path, or ``unknown page``."""
    if not page_key:
        return "unknown page"
    parts = url_parts(page_key)
    return f"{parts.netloc}{parts.path or '/'}" if parts.netloc else page_key


class PageMatrixTally:
    """Findings counted per vendor and page as they go by."""

    def __init__(self) -> None:
        self._cells: Counter[tuple[str, str]] = Counter()
        self._worst: dict[str, int] = {}
        self._by_vendor: Counter[str] = Counter()
        self._by_page: Counter[str] = Counter()

    def add(self, leak: Leak) -> None:
        """Count one finding in its vendor's row and its page's column."""
        vendor, page = leak.vendor_label, leak.page_key
        self._cells[(vendor, page)] += 1
        rank = severity_rank(leak.severity)
        self._worst[vendor] = min(self._worst.get(vendor, rank), rank)
        self._by_vendor[vendor] += 1
        self._by_page[page] += 1

    def plot(self) -> PageMatrix:
        """The plot's geometry, for the vendors and pages with the most findings."""
        cells, worst, by_vendor, by_page = self._cells, self._worst, self._by_vendor, self._by_page
        vendors = sorted(by_vendor, key=lambda v: (worst[v], -by_vendor[v], v))[:MATRIX_VENDORS]
        pages = sorted(by_page, key=lambda p: (-by_page[p], p))[:MATRIX_PAGES]
        top = max((cells[(v, p)] for v in vendors for p in pages), default=1) or 1
        rows = tuple(
            tuple((n, -(-4 * n // top)) for n in (cells[(v, p)] for p in pages)) for v in vendors
        )
        return PageMatrix(
            vendors=tuple(Label(clip(v, LABEL_CHARS), v) for v in vendors),
            pages=tuple(
                Label(clip(page_label(p), LABEL_CHARS), p or "unknown page") for p in pages
            ),
            rows=rows,
            cell=40,
            left=180,
            head=120,
        )


def page_matrix(leaks: Sequence[Leak]) -> PageMatrix:
    """Count findings per vendor and page, for the vendors and pages with the most."""
    tally = PageMatrixTally()
    for leak in leaks:
        tally.add(leak)
    return tally.plot()
