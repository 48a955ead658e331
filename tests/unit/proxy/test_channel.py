"""The proxy's pipe to its worker: framed batches, cut right however the bytes arrive."""

from __future__ import annotations

import os
import resource
import select
import threading

import pytest

from phitrace.proxy.channel import (
    HEADER,
    MAX_FRAME,
    BlockingEnd,
    BrokenStream,
    Frames,
    frame,
    wait_for,
)


def test_batches_come_out_whole_and_in_order_whatever_the_reads_cut() -> None:
    batches = [[("a", 1)], [b"x" * 70_000, None], [], [{"k": 2.5}]]
    stream = b"".join(frame(batch) for batch in batches)
    for size in (1, 7, 4096, len(stream)):
        frames, out = Frames(), []
        for start in range(0, len(stream), size):
            out += frames.feed(stream[start : start + size])
        assert out == batches
        assert not frames.partial


def test_a_frame_longer_than_any_batch_is_a_broken_stream() -> None:
    with pytest.raises(BrokenStream):
        Frames().feed(HEADER.pack(MAX_FRAME + 1))


def test_the_blocking_end_reads_what_the_other_end_wrote_then_sees_it_close() -> None:
    read_fd, write_fd = os.pipe()
    back_read, back_write = os.pipe()
    end = BlockingEnd(read_fd, back_write)
    big = [b"y" * 300_000]  # more than a pipe holds: written while it is read
    writer = threading.Thread(
        target=lambda: (os.write(write_fd, frame([1])), _write(write_fd, big))
    )
    writer.start()
    assert end.poll(5)
    assert end.recv() == [1]
    assert end.recv() == big
    writer.join()
    os.close(write_fd)
    with pytest.raises(EOFError):
        end.recv()
    end.send(["back"])
    assert Frames().feed(os.read(back_read, 1 << 16)) == [["back"]]
    end.close()
    os.close(back_read)


def test_a_stream_that_ends_inside_a_frame_is_broken() -> None:
    read_fd, write_fd = os.pipe()
    os.write(write_fd, frame([1, 2, 3])[:-2])
    os.close(write_fd)
    end = BlockingEnd(read_fd, os.dup(read_fd))
    with pytest.raises(BrokenStream):
        end.recv()
    end.close()


def _write(fd: int, batch: list[object]) -> None:
    data = memoryview(frame(batch))
    while data:
        data = data[os.write(fd, data) :]


def test_a_descriptor_beyond_what_select_watches_is_still_waited_on() -> None:
    # A proxy holding a thousand connections opens its worker's pipes beyond 1023.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard) <= 1600:
        pytest.skip("this machine allows too few open files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1600), hard))
    read_fd, write_fd = os.pipe()
    high = os.dup2(read_fd, 1500)
    try:
        assert wait_for(high, select.POLLIN, 0) == 0
        os.write(write_fd, frame(["late"]))
        end = BlockingEnd(high, os.dup(write_fd))
        assert end.poll(5) and end.recv() == ["late"]
        end.close()
    finally:
        for fd in (read_fd, write_fd):
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
