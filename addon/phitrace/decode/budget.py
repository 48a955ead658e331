"""The limits on decoding one request, and the budget that enforces them.

Decoding reads attacker-controlled bytes inside a proxy, so every resource it
can spend is capped: input bytes, decompressed bytes (in total and as a ratio
per stream), nested decoders, structure nesting, fields and time.  A limit
never raises out of the decoder: the fields decoded so far are kept and the
result says why it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

from phitrace.model import Field


@dataclass(frozen=True)
class Limits:
    """Bounds on the work spent decoding one request or message.

    The defaults suit a live proxy: a typical tracker hit needs a tiny fraction
    of each, and a hostile payload (a compression bomb, a million fields, a
    value nested a thousand times) stops early with a ``truncated`` reason.
    """

    max_body_bytes: int = 2 * 1024 * 1024
    """Input read from a body or message (also caps the URL and Cookie text)."""
    max_decompressed_bytes: int = 8 * 1024 * 1024
    """Output of all decompressions in one request, added together."""
    max_ratio: float = 250.0
    """Output of one decompression stream per input byte."""
    max_depth: int = 10
    """Decoders stacked on one value, i.e. the longest decode trail."""
    max_nesting: int = 64
    """Object and array nesting walked inside one JSON document or protobuf."""
    max_fields: int = 4000
    """Fields returned for one request."""
    max_value_chars: int = 64 * 1024
    """Characters kept of one field value (longer values are cut, still decoded)."""
    max_path_chars: int = 512
    """Characters kept of one field path."""
    max_seconds: float = 0.25
    """Wall-clock time for one request; checked in every loop."""
    min_encoded_chars: int = 16
    """Shortest value tried as base64, hex or lz-string (``eyJ`` JSON from 8)."""

    def __post_init__(self) -> None:
        for item in fields(self):
            if not getattr(self, item.name) > 0:
                raise ValueError(f"decode limit {item.name} must be positive")


DEFAULT_LIMITS = Limits()

_new_field = tuple.__new__
"""Builds a :class:`Field` without the Python-level ``__new__`` of a named tuple (hot path)."""


class Stop(Exception):
    """A limit that ends the whole decode; caught at the entry points only."""


class Budget:
    """What one decode has spent, and the fields it has produced so far."""

    __slots__ = (
        "limits",
        "fields",
        "reasons",
        "decompressed",
        "deadline",
        "_ticks",
        "_max_fields",
        "_max_value",
        "_max_path",
    )

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.fields: list[Field] = []
        self.reasons: list[str] = []
        self.decompressed = 0
        self.deadline = time.perf_counter() + limits.max_seconds
        self._ticks = 0
        # The bounds add() checks once per field, read here once per decode.
        self._max_fields = limits.max_fields
        self._max_value = limits.max_value_chars
        self._max_path = limits.max_path_chars

    @property
    def truncated(self) -> str | None:
        """Every limit that was hit, in order, or None."""
        return "; ".join(self.reasons) if self.reasons else None

    def note(self, reason: str) -> None:
        """Record that a limit cut something short (without stopping)."""
        if reason not in self.reasons and len(self.reasons) < 8:
            self.reasons.append(reason)

    def stop(self, reason: str) -> Stop:
        """Record a limit that ends the decode; raise the returned exception."""
        self.note(reason)
        return Stop(reason)

    def tick(self) -> None:
        """Check the deadline; cheap enough to call in every loop iteration."""
        self._ticks += 1
        if self._ticks & 15 == 0 and time.perf_counter() > self.deadline:
            raise self.stop(f"decoding took longer than {self.limits.max_seconds}s")

    def add(self, path: str, value: str, trail: tuple[str, ...]) -> None:
        """Append a field, cutting an over-long path or value."""
        fields = self.fields
        if len(fields) >= self._max_fields:
            raise self.stop(f"more than {self._max_fields} fields")
        # The deadline check of tick(), inlined: this runs once per field.
        ticks = self._ticks = self._ticks + 1
        if not ticks & 15 and time.perf_counter() > self.deadline:
            raise self.stop(f"decoding took longer than {self.limits.max_seconds}s")
        if len(value) > self._max_value:
            value = value[: self._max_value]
        if len(path) > self._max_path:
            path = path[: self._max_path]
        fields.append(_new_field(Field, (path, value, trail)))

    def room(self, compressed: int) -> tuple[int, str]:
        """Output allowed for one decompression of ``compressed`` bytes, and the limit's name."""
        limits = self.limits
        left = limits.max_decompressed_bytes - self.decompressed
        by_ratio = int(limits.max_ratio * max(compressed, 1))
        if by_ratio < left:
            return by_ratio, f"decompression ratio over {limits.max_ratio:g}"
        return max(left, 0), f"more than {limits.max_decompressed_bytes} decompressed bytes"

    def spend(self, produced: int) -> None:
        """Count decompressed bytes against the request's total."""
        self.decompressed += produced
