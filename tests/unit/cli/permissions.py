"""Read-only files for tests, also when the tests run as root.

Root ignores file modes through the CAP_DAC_OVERRIDE capability; dropping it
(and CAP_DAC_READ_SEARCH) from the thread's effective set makes modes count
again, and raising it back restores the test process as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

import pytest

_VERSION_3 = 0x20080522
_DAC = (1 << 1) | (1 << 2)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def _set_effective(change: int | None) -> int:
    """Set (or only read, with None) the effective capabilities' low word; return the old one."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _Header(_VERSION_3, 0), (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        pytest.skip("cannot read capabilities")
    old = data[0].effective
    if change is not None:
        data[0].effective = change
        if libc.capset(ctypes.byref(header), data) != 0:
            pytest.skip("cannot drop capabilities")
    return int(old)


@contextlib.contextmanager
def file_modes_enforced() -> Iterator[None]:
    """Within the block, a file's mode binds this process even as root (Linux only)."""
    if os.geteuid() != 0:
        yield
        return
    if not sys.platform.startswith("linux"):
        pytest.skip("dropping root's file-mode override needs Linux capabilities")
    old = _set_effective(None)
    _set_effective(old & ~_DAC)
    try:
        yield
    finally:
        _set_effective(old)
