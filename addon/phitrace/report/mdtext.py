"""Captured text made safe for Markdown: mid-line text and inline code spans.

Field paths, matched terms and labels come from payloads; these helpers are
the one place such text enters a Markdown document.
"""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def _visible(text: str) -> str:
    """Whitespace runs as one space, other control and format characters as ``\\xNN`` text.

    Field paths and matched terms come from payloads: a raw ESC or NUL would
    reach a terminal or a renderer as itself, and bidirectional overrides
    would reorder what a reviewer reads.
    """
    return "".join(
        ch if ch.isprintable() or ch == " " else _escape_code(ch) for ch in " ".join(text.split())
    )


def _escape_code(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def md_text(text: str) -> str:
    """Plain text safe mid-line in Markdown and in a table cell: no markup, links or HTML."""
    text = _visible(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_code(text: str) -> str:
    """Text as an inline code span that also survives inside a table cell."""
    text = _visible(text).replace("|", "\\|")
    if not text:
        return ""
    ticks = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) or ticks else ""
    return f"{fence}{pad}{text}{pad}{fence}"
