"""What a scan passed over (entries or flows it could not read), counted for the summary."""

from __future__ import annotations

from dataclasses import dataclass, field

SHOWN = 20
"""Skipped items described one by one; beyond that only counted, so memory stays bounded."""


@dataclass(frozen=True)
class Skipped:
    """One item of a capture that was not analysed, and why (``what`` is e.g. ``entry 17``)."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what} skipped: {self.reason}"


@dataclass
class SkipLog:
    """The items skipped while reading one capture: all counted, the first few kept."""

    count: int = 0
    first: list[Skipped] = field(default_factory=list)
    shown: int = SHOWN

    def add(self, what: str, reason: str) -> None:
        """Note that ``what`` was passed over because of ``reason``."""
        self.count += 1
        if len(self.first) < self.shown:
            self.first.append(Skipped(what, reason))

    def lines(self) -> tuple[str, ...]:
        """One line per kept item, then how many more there were."""
        lines = tuple(str(item) for item in self.first)
        hidden = self.count - len(self.first)
        return (*lines, f"{hidden} more skipped") if hidden else lines
