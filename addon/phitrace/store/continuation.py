"""Which session a writer's records belong to, when ``purge`` deletes it under the writer.

Session ids are reused once the newest sessions are deleted (the table has
no AUTOINCREMENT), so a session is known by its id and start time together;
a writer whose session was deleted continues in a new one of its own.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from phitrace.store.engine import Store
from phitrace.store.rows import Record
from phitrace.store.sessions import end_session, start_session

log = logging.getLogger(__name__)


class Sessions:
    """The sessions a writer records into, and where a deleted one continues.

    A session is known by its id and start time: a session deleted by
    ``purge`` (and possibly its id taken by a newer session) is detected
    inside the write transaction, and its records go to a new session with
    the same label, source and settings, which the writer ends when it stops.
    """

    def __init__(self, session_id: int | None) -> None:
        self._first = session_id
        self._known: dict[int, dict[str, object]] = {}
        self._moved: dict[int, int] = {}
        self._own: list[int] = []

    def remember(self, db: Store) -> None:
        """Note the first session's start time, before any record: its id alone may be reused."""
        if self._first is not None and self._first not in self._known:
            row = self._row(db, self._first)
            # Already gone: a session now under that id is not ours, whatever it holds.
            self._known[self._first] = row if row is not None else {"started_at": None}

    @property
    def continued_in(self) -> int | None:
        """Where the first session's records go since it was deleted, if it was."""
        return None if self._first is None else self._moved.get(self._first)

    def alive(self) -> set[int]:
        """The sessions this writer is recording now."""
        ids = set(self._known) - set(self._moved)
        if self._first is not None:
            ids.add(self._moved.get(self._first, self._first))
        return ids

    def continued(self, db: Store, record: Record) -> Record:
        """The record, moved to the session continuing its own if that was deleted."""
        wanted = self._moved.get(record.session_id, record.session_id)
        row = self._row(db, wanted)
        known = self._known.get(wanted)
        if row is not None and (known is None or known["started_at"] == row["started_at"]):
            self._known.setdefault(wanted, row)
            return record if wanted == record.session_id else replace(record, session_id=wanted)
        template = known or {}
        new_id = start_session(
            db,
            source=str(template.get("source") or "proxy"),
            label=str(template.get("label") or ""),
            signatures_digest=str(template.get("signatures_digest") or ""),
            input=str(template.get("input") or ""),
            consent=str(template.get("consent") or ""),
            scope=str(template.get("scope") or ""),
        )
        log.warning(
            "phitrace: session %s was deleted while it was being recorded; "
            "recording continues in session %s",
            wanted,
            new_id,
        )
        self._moved[record.session_id] = new_id
        self._moved[wanted] = new_id
        self._own.append(new_id)
        self._known[new_id] = self._row(db, new_id) or {}
        return replace(record, session_id=new_id)

    def still_ours(self, db: Store) -> set[int]:
        """The sessions of :meth:`alive` that were not deleted, their id given to another."""
        ours = set()
        for session_id in self.alive():
            known, row = self._known.get(session_id), self._row(db, session_id)
            if row is not None and (known is None or known["started_at"] == row["started_at"]):
                ours.add(session_id)
        return ours

    @staticmethod
    def _row(db: Store, session_id: int) -> dict[str, object] | None:
        rows = list(db.query("select * from sessions where id = ?", [session_id]))
        return rows[0] if rows else None

    def end_own(self, db: Store) -> None:
        """End the sessions this writer started; failures are only logged."""
        for session_id in self._own:
            try:
                end_session(db, session_id)
            except Exception:  # noqa: BLE001 - the proxy is stopping anyway
                log.exception("phitrace could not end session %s", session_id)
