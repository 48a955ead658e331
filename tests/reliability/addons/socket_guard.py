"""Test-only mitmproxy script: records every outbound connection and name lookup of the process.

Load it with a second ``-s``.  From import on, ``socket.socket.connect``,
``connect_ex``, ``sendto`` and ``socket.getaddrinfo`` are wrapped (asyncio
dials and resolves through them too), and each attempt is appended as a JSON
line ``{"kind": ..., "host": ..., "port": ...}`` to the file named by the
``socket_guard_log`` option.  Nothing is blocked: the test reads the file.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

_lock = threading.Lock()
_pending: list[dict[str, str]] = []  # attempts before the option names the log file
_log_path = ""


def _record(kind: str, address: Any) -> None:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), str(address[1])
    else:  # a Unix socket path, or a bare host name being resolved
        host, port = str(address), ""
    event = {"kind": kind, "host": host, "port": port}
    with _lock:
        if not _log_path:
            _pending.append(event)
            return
        with open(_log_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(event) + "\n")


def _flush(path: str) -> None:
    global _log_path
    with _lock:
        _log_path = path
        with open(path, "a", encoding="utf-8") as out:
            for event in _pending:
                out.write(json.dumps(event) + "\n")
        _pending.clear()


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_sendto = socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self: socket.socket, address: Any) -> None:
    _record("connect", address)
    return _connect(self, address)


def connect_ex(self: socket.socket, address: Any) -> int:
    _record("connect", address)
    return _connect_ex(self, address)


def sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _record("sendto", args[-1])
    return _sendto(self, data, *args)  # type: ignore[call-overload, no-any-return]


def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    _record("resolve", (host, port))
    return _getaddrinfo(host, port, *args, **kwargs)


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
socket.socket.sendto = sendto  # type: ignore[assignment]
socket.getaddrinfo = getaddrinfo


class SocketGuard:
    def load(self, loader: Any) -> None:
        loader.add_option("socket_guard_log", str, "", "JSON-lines file of connection attempts.")

    def configure(self, updated: set[str]) -> None:
        from mitmproxy import ctx

        if "socket_guard_log" in updated and ctx.options.socket_guard_log:
            _flush(ctx.options.socket_guard_log)


addons = [SocketGuard()]
