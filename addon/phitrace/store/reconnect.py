"""A writer's connection that comes back: opened when needed, dropped when the server goes away.

A PostgreSQL server can restart (an upgrade, a failover) while a proxy
records into it.  :class:`Link` holds the writer's one connection: it opens
it on demand, and after :func:`is_disconnect` says an error was the
connection's rather than the data's, drops it so the next use reconnects,
waiting a little longer after every failed attempt (:class:`Backoff`).  A
SQLite file has no server to lose: its errors are never disconnects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from phitrace.store.database import DatabaseError, open_database
from phitrace.store.engine import Store, is_postgres, postgres, store_errors
from phitrace.store.target import Target

__all__ = ["Backoff", "Link", "is_disconnect", "landed"]

log = logging.getLogger(__name__)


def is_disconnect(db: Store | None, error: BaseException) -> bool:
    """True when ``error`` came from a lost or refused connection, so a retry may succeed.

    PostgreSQL reports a server that went away, shut down or restarted as an
    ``OperationalError`` and marks the connection broken; a deadlock or a
    serialisation failure is an ``OperationalError`` too, and worth a retry
    for the same reason.  A refused value (a constraint, a body too big) is not.
    """
    if db is None:
        return True
    if not is_postgres(db):
        return False
    import psycopg

    conn = postgres(db).conn
    return conn.broken or conn.closed or isinstance(error, psycopg.OperationalError)


def landed(db: Store, flow_ids: Sequence[int]) -> bool:
    """Whether a batch written with these flow ids was committed before its connection broke.

    A batch commits whole or not at all, so its first id tells.  A commit cut
    off mid-way may have landed: retrying it blindly would store it twice.
    """
    sql = "select count(*) from flows where id = ?"
    return bool(db.execute(sql, [flow_ids[0]]).fetchone()[0])


class Backoff:
    """Pauses between reconnection attempts: doubling from ``first`` up to ``longest`` seconds."""

    def __init__(self, first: float = 0.05, longest: float = 2.0) -> None:
        self.first = first
        self.longest = longest
        self._next = first

    def next(self) -> float:
        """The pause before the next attempt (and double it for the one after)."""
        pause = self._next
        self._next = min(self.longest, self._next * 2)
        return pause

    def reset(self) -> None:
        """Connected again: the next outage starts with a short pause."""
        self._next = self.first


class Link:
    """The connection to ``target``, reopened after a disconnect (see the module's docstring).

    ``on_open`` runs on every new connection (a pragma, a heartbeat); an error
    there counts as a failed attempt.  ``opener`` opens the database
    (:func:`~phitrace.store.database.open_database` unless given).
    """

    def __init__(
        self,
        target: Target,
        on_open: Callable[[Store], None],
        opener: Callable[[Target], Store] = open_database,
    ) -> None:
        self.target = target
        self.on_open = on_open
        self.opener = opener
        self.backoff = Backoff()
        self.db: Store | None = None
        self._lost_at: float | None = None
        self._attempts = 0

    def get(self) -> Store | None:
        """The open connection, opening one if there is none; None while that fails."""
        if self.db is not None:
            return self.db
        refused: tuple[type[Exception], ...] = (DatabaseError, OSError, *store_errors())
        try:
            db = self.opener(self.target)
        except refused as exc:
            self._failed(exc)
            return None
        try:
            self.on_open(db)
        except Exception as exc:  # noqa: BLE001 - a half-working connection is not one
            self._close(db)
            self._failed(exc)
            return None
        if self._lost_at is not None:
            log.warning(
                "phitrace: connected to %s again after %.1f s", self.target, self._since_lost()
            )
        self.db, self._lost_at, self._attempts = db, None, 0
        self.backoff.reset()
        return db

    def lost(self, error: BaseException) -> None:
        """The connection failed: drop it, so the next :meth:`get` reconnects."""
        if self.db is not None:
            self._close(self.db)
            self.db = None
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            log.warning(
                "phitrace lost its connection to %s (%s); reconnecting, flows wait in the queue",
                self.target,
                _reason(error),
            )

    def pause(self, give_up_at: float | None) -> bool:
        """Sleep before the next attempt; False (at once) when that would pass ``give_up_at``."""
        pause = self.backoff.next()
        if give_up_at is not None and time.monotonic() + pause > give_up_at:
            return False
        time.sleep(pause)
        return True

    def close(self) -> None:
        """Close the connection, if one is open."""
        if self.db is not None:
            self._close(self.db)
            self.db = None

    def _failed(self, error: BaseException) -> None:
        self._attempts += 1
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            log.error("phitrace cannot open %s: %s", self.target, _reason(error))
        elif self._attempts % 20 == 0:
            log.warning(
                "phitrace still cannot reach %s after %.0f s (%s)",
                self.target,
                self._since_lost(),
                _reason(error),
            )

    def _since_lost(self) -> float:
        return time.monotonic() - (self._lost_at or time.monotonic())

    @staticmethod
    def _close(db: Store) -> None:
        try:
            db.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone anyway
            log.debug("phitrace: closing a lost connection failed", exc_info=True)


def _reason(error: BaseException) -> str:
    """The error's first line (the server's message; CONTEXT and DETAIL lines follow it)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
