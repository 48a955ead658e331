"""Bodies made of several parts: multipart forms and Sentry envelopes, decoded part by part.

:mod:`phitrace.decode.envelopes` splits the bytes; here each part goes back
to the :class:`~phitrace.decode.sniff.Decoder` under the path a field map
addresses it by, so a part can hold anything a body can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from phitrace.decode import envelopes
from phitrace.decode.textcodecs import readable

if TYPE_CHECKING:  # the decoder calls in here, and is called back
    from phitrace.decode.sniff import Decoder, Trail


def multipart(decoder: Decoder, data: bytes, path: str, trail: Trail) -> bool:
    """Decode a multipart body, each part under its form name; False if it is not one."""
    parts = envelopes.multipart(data, decoder.limits.max_fields)
    if parts is None:
        return False
    if not decoder.deeper(trail):
        return True
    trail = trail + ("multipart",)
    for index, part in enumerate(parts):
        here = f"{path}.{part.name}" if part.name is not None else f"{path}.part[{index}]"
        text = readable(part.content)
        if text is not None:
            decoder.value(here, text, trail)
        else:
            decoder.blob(part.content, here, trail, top=False)
    return True


def sentry(decoder: Decoder, data: bytes, path: str, trail: Trail) -> bool:
    """Decode a Sentry envelope: its header, then each item's header and payload.

    Items are numbered as the lines they would be in a text envelope, so
    field maps address them as NDJSON (``line[2].request.url``); a replay
    recording's payload is its JSON header line and the recording after it.
    False if ``data`` is not an envelope.
    """
    envelope = envelopes.sentry_envelope(data, decoder.limits.max_fields)
    if envelope is None:
        return False
    if not decoder.deeper(trail):
        return True
    header, items = envelope
    trail = trail + ("envelope",)
    decoder.walk(header, f"{path}.line[0]", trail)
    line = 1
    for item in items:
        decoder.walk(item.header, f"{path}.line[{line}]", trail)
        here = f"{path}.line[{line + 1}]"
        line += 2
        split = None
        if item.header.get("type") == "replay_recording":
            split = envelopes.split_first_line(item.payload)
        if split is not None:
            decoder.walk(split[0], here, trail)
            decoder.blob(split[1], f"{here}.recording", trail, top=False)
        else:
            decoder.blob(item.payload, here, trail, top=False)
    return True
