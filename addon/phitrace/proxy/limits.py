"""The decode-limit options: one mitmproxy option per field of the decode :class:`Limits`."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from mitmproxy import exceptions

from phitrace.decode.budget import DEFAULT_LIMITS, Limits


@dataclass(frozen=True)
class LimitOption:
    """A mitmproxy option that sets one field of the decode :class:`Limits`.

    mitmproxy's ``--set`` parses only text, whole numbers and booleans, so a
    limit that takes a fraction (``whole=False``) is a text option, parsed here.
    """

    name: str
    field: str
    help: str
    whole: bool = True

    @property
    def default(self) -> int | str:
        """The option's default: the field's default in :data:`DEFAULT_LIMITS`."""
        value = getattr(DEFAULT_LIMITS, self.field)
        return int(value) if self.whole else f"{value:g}"

    def parse(self, raw: int | str) -> int | float:
        """The limit an option value sets; an OptionsError saying why when it is unusable."""
        if self.whole:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
                raise exceptions.OptionsError(
                    f"{self.name} must be a whole number above 0 (default {self.default}), "
                    f"not {raw!r}"
                )
            return raw
        try:
            value = float(str(raw).strip())
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise exceptions.OptionsError(
                f"{self.name} must be a number above 0 such as {self.default}, not {raw!r}"
            )
        return value


LIMIT_OPTIONS: tuple[LimitOption, ...] = (
    LimitOption(
        "phitrace_max_body_bytes",
        "max_body_bytes",
        "Bytes of a request body or WebSocket message that are decoded (also caps the URL "
        "and Cookie text); the rest is not analysed.",
    ),
    LimitOption(
        "phitrace_max_decompressed_bytes",
        "max_decompressed_bytes",
        "Bytes that all decompressions (gzip, brotli, zstd...) of one request may produce "
        "together.",
    ),
    LimitOption(
        "phitrace_max_ratio",
        "max_ratio",
        "Most bytes one decompression may produce per compressed byte (stops "
        "compression bombs early). A number, e.g. 250 or 62.5.",
        whole=False,
    ),
    LimitOption(
        "phitrace_max_depth",
        "max_depth",
        "Most decoders stacked on one value (e.g. base64 inside JSON inside a form).",
    ),
    LimitOption("phitrace_max_fields", "max_fields", "Most fields decoded from one request."),
    LimitOption(
        "phitrace_decode_seconds",
        "max_seconds",
        "Wall-clock seconds spent decoding one request. Block and redact modes decode on "
        "the proxy's event loop, so a larger value lets one hostile request hold up all "
        "traffic that long; passive and sinkhole recording decode in a worker process.",
        whole=False,
    ),
)
LIMIT_NAMES = frozenset(option.name for option in LIMIT_OPTIONS)


def add_limit_options(loader: Any) -> None:
    """Declare every decode-limit option."""
    for limit in LIMIT_OPTIONS:
        kind = int if limit.whole else str
        loader.add_option(limit.name, kind, limit.default, limit.help)


def limits_from(options: Any) -> Limits:
    """The decode limits the options set, each checked with its option's name."""
    values: dict[str, Any] = {
        limit.field: limit.parse(getattr(options, limit.name)) for limit in LIMIT_OPTIONS
    }
    return replace(DEFAULT_LIMITS, **values)
