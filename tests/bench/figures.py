"""Figures with targets, the machine they were measured on, and the one table printed at the end."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Figure:
    """One measured number, and whether it meets its target (None when it has no target)."""

    bench: str
    name: str
    value: float | None
    unit: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def shown(self) -> str:
        """The value as printed: integers without decimals, ratios with three digits."""
        if self.value is None:
            return "—"
        if abs(self.value) >= 100:
            text = f"{self.value:,.0f}"
        elif abs(self.value) >= 10:
            text = f"{self.value:.1f}"
        else:
            text = f"{self.value:.3g}"
        return f"{text} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "met" if self.met else "NOT MET"


def info(bench: str, name: str, value: float | None, unit: str = "", note: str = "") -> Figure:
    """A figure reported for context, without a target."""
    return Figure(bench, name, value, unit, note=note)


def at_least(bench: str, name: str, value: float, bound: float, unit: str = "") -> Figure:
    """A figure whose target is ``value >= bound``."""
    target = f"≥ {Figure(bench, name, bound, unit).shown}"
    return Figure(bench, name, value, unit, target, value >= bound)


def at_most(bench: str, name: str, value: float, bound: float, unit: str = "") -> Figure:
    """A figure whose target is ``value <= bound``."""
    target = f"≤ {Figure(bench, name, bound, unit).shown}"
    return Figure(bench, name, value, unit, target, value <= bound)


def failed(bench: str, reason: str) -> Figure:
    """A benchmark that could not produce its figures, and why."""
    return Figure(bench, "did not run", None, note=reason, met=None)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{' (modified tree)' if dirty else ''}" if head else "unknown"


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on, as (label, value) pairs."""
    import psutil

    memory = psutil.virtual_memory().total / 2**30
    return [
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("cpu", _cpu_model()),
        ("cores", f"{os.cpu_count()} logical, {psutil.cpu_count(logical=False)} physical"),
        ("ram", f"{memory:.1f} GiB"),
        ("os", f"{platform.system()} {platform.release()}"),
        (
            "load",
            "load average {:.1f} {:.1f} {:.1f} at start (1, 5, 15 min)".format(*os.getloadavg()),
        ),
        ("python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("mitmproxy", _version("mitmproxy")),
        ("phitrace", f"{_version('phitrace')} at {_commit()}"),
        ("adblock", _version("adblock")),
    ]


def table(figures: list[Figure], described: list[tuple[str, str]]) -> str:
    """The machine description and every figure, as one plain-text table."""
    lines = [f"{label:>10}: {value}" for label, value in described]
    rows = [("benchmark", "figure", "value", "target", "result")]
    rows += [(f.bench, f.name, f.shown, f.target, f.verdict) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    rule = "  ".join("-" * w for w in widths)
    lines += ["", "  ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True)), rule]
    for (bench, *rest), figure in zip(rows[1:], figures, strict=True):
        cells = [bench, *rest]
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        lines.append(line + (f"  ({figure.note})" if figure.note else ""))
    met = sum(1 for f in figures if f.met)
    missed = sum(1 for f in figures if f.met is False)
    lines += [rule, f"targets: {met} met, {missed} not met"]
    return "\n".join(lines)
