"""Pickled batches over a pipe, framed by their length: the proxy's link to its worker.

The proxy's side is non-blocking and driven by its event loop (no thread of
its own, so nothing competes with the loop for the interpreter lock); the
worker's side blocks.  Both speak the same frames: an 8-byte big-endian
length, then a pickle of one batch (a list).  Only the two ends of one
``os.fork`` read them, so a frame is trusted as much as the process that
wrote it; a length beyond :data:`MAX_FRAME` still means a broken stream.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
from typing import Any

HEADER = struct.Struct("!Q")

MAX_FRAME = 1 << 31
"""Bytes one frame may hold: more means the stream is corrupt, not a batch."""

READ_SIZE = 1 << 20
"""Bytes read from the pipe at a time."""


def wait_for(fd: int, events: int, timeout: float | None) -> int:
    """The events of ``events`` that ``fd`` is ready for within ``timeout`` seconds (0: none).

    ``poll``, not ``select``: a proxy with a thousand connections open has
    descriptors beyond what ``select`` can watch.
    """
    poller = select.poll()
    poller.register(fd, events)
    ready = poller.poll(None if timeout is None else max(0.0, timeout) * 1000)
    return ready[0][1] if ready else 0


class BrokenStream(EOFError):
    """The stream ended inside a frame, or a frame's length cannot be right."""


def frame(batch: list[Any]) -> bytes:
    """One batch as the bytes of a frame."""
    payload = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


class Frames:
    """Cuts the bytes read so far into batches; keeps the rest for the next read."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[list[Any]]:
        """The batches completed by ``data``, in order."""
        buffer = self.buffer
        buffer += data
        batches: list[list[Any]] = []
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            if size > MAX_FRAME:
                raise BrokenStream(f"a frame of {size} bytes")
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            batches.append(pickle.loads(buffer[start + HEADER.size : end]))
            start = end
        if start:
            del buffer[:start]
        return batches

    @property
    def partial(self) -> bool:
        """Whether a frame has begun and not ended."""
        return bool(self.buffer)


class BlockingEnd:
    """The worker's end: blocking reads and writes of whole batches."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd
        self.frames = Frames()
        self.ready: list[list[Any]] = []

    def poll(self, timeout: float | None) -> bool:
        """Whether a batch (or the end of the stream) can be read within ``timeout`` seconds."""
        if self.ready:
            return True
        return bool(wait_for(self.read_fd, select.POLLIN, timeout))

    def recv(self) -> list[Any]:
        """The next batch; EOFError when the other end closed."""
        while not self.ready:
            data = os.read(self.read_fd, READ_SIZE)
            if not data:
                if self.frames.partial:
                    raise BrokenStream("the stream ended inside a frame")
                raise EOFError
            self.ready.extend(self.frames.feed(data))
        return self.ready.pop(0)

    def send(self, batch: list[Any]) -> None:
        """Write one batch, whole; OSError (a broken pipe) when the other end is gone."""
        data = memoryview(frame(batch))
        while data:
            data = data[os.write(self.write_fd, data) :]

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            try:
                os.close(fd)
            except OSError:
                pass
