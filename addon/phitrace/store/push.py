"""Copy recording sessions from one database into another: a laptop's audit into the team's.

A session is copied with everything recorded in it (flows, findings, raw
requests, its third-party inventory) under new ids, which the target hands
out, so the copy never collides with what other writers put there.  A
session is known by ``sessions.uid``, a random value given when it was
started: one the target already holds is left alone, which is what makes
pushing twice add nothing.

Each session is copied in one transaction on the target, read from the
source in batches of flows, so a push that is interrupted leaves no half
copy behind and the next push copies that session whole.  A session still
being recorded at the source (running, with a fresh heartbeat) is not
copied: the copy would miss what its recorder writes next, and a later push
would then skip it as already there.  Two pushes of the same session at the
same moment end with one copy: the target's unique ``uid`` refuses the
second, which is then counted as already there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from phitrace.store.database import write_transaction
from phitrace.store.engine import Store, insert_rows, new_ids, store_errors
from phitrace.store.sessions import live_sessions

__all__ = ["BATCH", "Pushed", "push"]

BATCH = 500
"""Flows read from the source, and written to the target, per batch."""

Row = dict[str, Any]


@dataclass(frozen=True)
class Pushed:
    """What a push copied (rows by table) and which sessions it left alone, and why."""

    sessions: int = 0
    flows: int = 0
    findings: int = 0
    requests: int = 0
    third_parties: int = 0
    already_there: int = 0
    """Sessions the target already held (same ``uid``): pushed before."""
    still_recording: int = 0
    """Sessions a proxy or scan is still writing at the source: push them once they end."""

    def __add__(self, other: Pushed) -> Pushed:
        return Pushed(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def line(self) -> str:
        """The one-line summary the ``push`` command prints."""
        text = (
            f"pushed {self.sessions} session(s): {self.flows} flows, {self.findings} findings, "
            f"{self.requests} raw requests, {self.third_parties} third parties; "
            f"{self.already_there} already there"
        )
        if self.still_recording:
            text += f", {self.still_recording} still recording (not pushed)"
        return text


def _columns(source: Store, target: Store, table: str, drop: Sequence[str] = ()) -> list[str]:
    """The columns of ``table`` both databases have, less ``drop``: what a copy can carry.

    Either side may be older or newer than the other; a column only one has
    is left out (the target's gets its default), never an error.
    """
    wanted = target.table(table).columns_dict
    return [c for c in source.table(table).columns_dict if c in wanted and c not in drop]


class _Copier:
    """Copies sessions from ``source`` into ``target``, with the columns both share."""

    def __init__(self, source: Store, target: Store, batch: int) -> None:
        self.source = source
        self.target = target
        self.batch = max(1, batch)
        # Ids the target generates itself are not copied: nothing refers to them.
        self.columns = {
            "sessions": _columns(source, target, "sessions", ("id",)),
            "flows": _columns(source, target, "flows", ("id", "session_id")),
            "findings": _columns(source, target, "findings", ("id", "flow_id", "session_id")),
            "requests": _columns(source, target, "requests", ("flow_id",)),
            "third_parties": _columns(source, target, "third_parties", ("id", "session_id")),
        }

    def _rows(self, table: str, rows: Sequence[Row], **values: Any) -> list[Row]:
        """``rows`` cut to the shared columns of ``table``, with ``values`` set on each."""
        names = self.columns[table]
        return [{**{c: row[c] for c in names}, **values} for row in rows]

    def held(self, uid: str) -> bool:
        """Whether the target already holds the session known by ``uid``."""
        sql = "select count(*) from sessions where uid = ?"
        return bool(self.target.execute(sql, [uid]).fetchone()[0])

    def copy(self, session: Row) -> Pushed:
        """Copy one session whole, in one transaction on the target; nothing if it is there."""
        with write_transaction(self.target):
            if self.held(session["uid"]):
                return Pushed(already_there=1)
            new_id = new_ids(self.target, "sessions", 1)[0]
            row = self._rows("sessions", [session], id=new_id)
            insert_rows(self.target, "sessions", row)
            counts = Pushed(sessions=1)
            for flows in self._flow_batches(session["id"]):
                counts += self._copy_flows(flows, new_id)
            parties = list(
                self.source.query(
                    "select * from third_parties where session_id = ?", [session["id"]]
                )
            )
            insert_rows(
                self.target,
                "third_parties",
                self._rows("third_parties", parties, session_id=new_id),
            )
            return replace(counts, third_parties=len(parties))

    def _flow_batches(self, session_id: int) -> Iterator[list[Row]]:
        """The session's flows in id order, ``batch`` at a time (keyset paging, no offset)."""
        last = 0
        sql = "select * from flows where session_id = ? and id > ? order by id limit ?"
        while True:
            flows = list(self.source.query(sql, [session_id, last, self.batch]))
            if not flows:
                return
            yield flows
            last = flows[-1]["id"]

    def _by_flow(self, table: str, flow_ids: Sequence[int]) -> list[Row]:
        """The rows of ``table`` belonging to ``flow_ids`` at the source."""
        marks = ", ".join("?" * len(flow_ids))
        order = " order by id" if table == "findings" else ""
        sql = f"select * from [{table}] where flow_id in ({marks}){order}"
        return list(self.source.query(sql, list(flow_ids)))

    def _copy_flows(self, flows: list[Row], session_id: int) -> Pushed:
        """One batch of flows with their findings and raw requests, under the target's ids."""
        fresh = new_ids(self.target, "flows", len(flows))
        ids = dict(zip((f["id"] for f in flows), fresh, strict=True))
        rows = self._rows("flows", flows, session_id=session_id)
        insert_rows(
            self.target, "flows", [{**r, "id": i} for r, i in zip(rows, fresh, strict=True)]
        )
        findings = self._by_flow("findings", list(ids))
        rows = self._rows("findings", findings, session_id=session_id)
        for row, finding in zip(rows, findings, strict=True):
            row["flow_id"] = ids[finding["flow_id"]]
        insert_rows(self.target, "findings", rows)
        raws = self._by_flow("requests", list(ids))
        rows = self._rows("requests", raws)
        for row, raw in zip(rows, raws, strict=True):
            row["flow_id"] = ids[raw["flow_id"]]
        insert_rows(self.target, "requests", rows)
        return Pushed(flows=len(flows), findings=len(findings), requests=len(raws))


def push(source: Store, target: Store, *, batch: int = BATCH) -> Pushed:
    """Copy every session of ``source`` that ``target`` lacks; return what was copied.

    Sessions still being recorded at the source are counted, not copied (see
    the module's docstring).  A session another push copied at the same
    moment is counted as already there.
    """
    copier = _Copier(source, target, batch)
    sessions = list(source.query("select * from sessions order by id"))
    live = set(live_sessions(source, [s["id"] for s in sessions]))
    total = Pushed(still_recording=len(live))
    for session in sessions:
        if session["id"] in live:
            continue
        try:
            total += copier.copy(session)
        except store_errors():
            # Another push of this session committed first: the unique uid refused ours.
            if not copier.held(session["uid"]):
                raise
            total += Pushed(already_there=1)
    return total
