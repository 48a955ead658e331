"""Schema changes as named, ordered steps; each database records which steps it has had.

A step is applied once: :func:`migrate` takes SQLite's write lock, reads the
names in :data:`MIGRATIONS_TABLE`, applies the missing steps in order with
sqlite-utils and records each one, all in one transaction.  Taking the lock
before reading is why this is not ``sqlite_utils.Migrations``: two processes
opening an old database at the same moment (the proxy and its writer thread,
say) must not both add the same column.

On PostgreSQL the same steps run through the same table methods
(:class:`phitrace.store.postgres.PgTable`), under an advisory lock held for
the transaction instead of SQLite's write lock.

Steps are frozen once released: a step never changes, a later step is
added instead.  Databases written before steps were recorded get the first
step too, which only adds what they lack.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from phitrace.store.engine import Store, is_postgres, postgres, sqlite
from phitrace.store.schema import FOREIGN_KEYS, INDEXES, PRIMARY_KEYS, THIRD_PARTIES, now_iso

MIGRATIONS_TABLE = "_phitrace_migrations"
"""One row per applied step: ``name`` and ``applied_at``."""

MIGRATION_LOCK = 0x50485452
"""PostgreSQL advisory lock key held while steps are applied (the bytes ``PHTR``)."""


@dataclass(frozen=True)
class Migration:
    """One schema change: its stable name and the function that makes it."""

    name: str
    apply: Callable[[Store], None]


def _add_missing(db: Store, columns: dict[str, dict[str, type]]) -> None:
    """Create missing tables and add missing columns; never touches what exists."""
    for name, wanted in columns.items():
        table = db.table(name)
        if not table.exists():
            table.create(wanted, pk=PRIMARY_KEYS[name], foreign_keys=FOREIGN_KEYS.get(name, []))
            continue
        present = table.columns_dict
        for column, kind in wanted.items():
            if column not in present:
                table.add_column(column, kind)


_CONTRACT_TABLES: dict[str, dict[str, type]] = {
    "sessions": {
        "id": int,
        "started_at": str,
        "ended_at": str,
        "label": str,
        "source": str,
        "phitrace_version": str,
        "signatures_digest": str,
        "input": str,
        "consent": str,
        "scope": str,
        "errors": int,
    },
    "flows": {
        "id": int,
        "session_id": int,
        "timestamp": str,
        "method": str,
        "url": str,
        "host": str,
        "page_url": str,
        "vendor": str,
        "vendor_name": str,
        "tracker_category": str,
        "status_code": int,
        "request_sha256": str,
        "blocked": int,
        "redacted": str,
        "severity": str,
        "endpoint_role": str,
        "truncated": str,
    },
    "findings": {
        "id": int,
        "flow_id": int,
        "session_id": int,
        "vendor": str,
        "kind": str,
        "category": str,
        "field": str,
        "value": str,
        "matched": str,
        "severity": str,
        "rule": str,
        "reason": str,
    },
    "requests": {"flow_id": int, "headers": str, "body": bytes},
}
"""The tables as the first recorded step leaves them (frozen: later columns are later steps)."""


def contract_tables(db: Store) -> None:
    """Step 1: the sessions, flows, findings and requests tables, and their indexes."""
    _add_missing(db, _CONTRACT_TABLES)
    for name, indexes in INDEXES.items():
        for indexed in indexes:
            db.table(name).create_index(indexed, if_not_exists=True)


def structured_findings(db: Store) -> None:
    """Step 2: a finding's path and trail apart; the flow's severity reason and vendor company.

    ``findings.trail`` holds the decoders as a JSON array of strings
    (``["form", "json"]``).  Rows written before this step keep NULL in the
    new columns; the reader derives their path and trail from ``field``.
    """
    _add_missing(
        db,
        {
            "findings": {"path": str, "trail": str},
            "flows": {"severity_reason": str, "vendor_company": str},
        },
    )


def finding_channel(db: Store) -> None:
    """Step: ``findings.channel``, the part of the request a finding travelled by.

    Rows written before this step keep NULL; the channel follows from ``path``.
    """
    _add_missing(db, {"findings": {"channel": str}})


def third_parties_table(db: Store) -> None:
    """Step: the ``third_parties`` table, each session's inventory of recipients."""
    _add_missing(db, {"third_parties": THIRD_PARTIES})
    db.table("third_parties").create_index(["session_id"], if_not_exists=True)


def host_header(db: Store) -> None:
    """Step: the Host header a client sent when it named another host than the destination.

    A client can hide a tracker request behind another name (``Host:
    cdn.example.org`` on a request to a tracker); the flow's ``url`` and
    ``host`` are where it really went, and this column what the client claimed.
    """
    _add_missing(db, {"flows": {"host_header": str}})


def session_status_and_body_digest(db: Store) -> None:
    """Step: a session's outcome and liveness; a request body's true length and digest.

    ``sessions.status`` is ``running``, ``complete`` or ``failed`` (with
    ``sessions.error``); ``sessions.heartbeat_at`` is refreshed by a live
    writer, so ``purge`` can tell a session still being recorded.  Stored
    bodies are capped: ``flows.request_body_length`` and
    ``flows.request_body_sha256`` describe the whole body as sent, and
    ``flows.request_body_truncated`` is 1 when ``requests.body`` holds only
    its start.  Rows written before this step keep NULL in these columns.
    """
    _add_missing(
        db,
        {
            "sessions": {"status": str, "error": str, "heartbeat_at": str},
            "flows": {
                "request_body_length": int,
                "request_body_sha256": str,
                "request_body_truncated": int,
            },
        },
    )


def flow_analysis_error(db: Store) -> None:
    """``flows.analysis_error``: why a flow recorded after a failed analysis was not analysed."""
    _add_missing(db, {"flows": {"analysis_error": str}})


def finding_policy(db: Store) -> None:
    """Step: ``findings.policy``, the organisation's policy rule that accepts a finding.

    ``covered`` (a vendor under a business associate agreement) or
    ``allowed:<n>`` (the n-th allow entry, 1-based); NULL when no rule accepts
    it, when no policy was given, and in rows written before this step.
    """
    _add_missing(db, {"findings": {"policy": str}})


def flow_authenticated(db: Store) -> None:
    """Step: ``flows.authenticated`` and ``flows.authenticated_reason``.

    Whether the flow's page was viewed logged in (``yes``, ``no`` or
    ``unknown``) and the evidence (a cookie, a header, a payload field, a
    portal-like path); NULL in rows written before this step.
    """
    _add_missing(db, {"flows": {"authenticated": str, "authenticated_reason": str}})


def gpc(db: Store) -> None:
    """Step: ``flows.gpc`` and ``sessions.gpc``, the Global Privacy Control signal.

    ``flows.gpc`` is 1 when the request carried ``Sec-GPC: 1``, 0 when it did
    not, NULL when its headers were not captured; ``sessions.gpc`` sums a
    session up (``sent``, ``mixed`` or ``not sent``) when it ends.  Rows
    written before this step keep NULL.
    """
    _add_missing(db, {"flows": {"gpc": int}, "sessions": {"gpc": str}})


def session_uid(db: Store) -> None:
    """Step: ``sessions.uid``, a random UUID per session, unique: a session's identity anywhere.

    Ids are only unique within one database; the UUID stays the same when a
    session is copied into another, so a copy can tell it already holds it.
    Existing sessions get one here.
    """
    _add_missing(db, {"sessions": {"uid": str}})
    missing = [row[0] for row in db.execute("select id from sessions where uid is null")]
    for session_id in missing:
        db.execute("update sessions set uid = ? where id = ?", [str(uuid.uuid4()), session_id])
    db.table("sessions").create_index(["uid"], unique=True, if_not_exists=True)


MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_contract_tables", contract_tables),
    Migration("0002_structured_findings", structured_findings),
    Migration("0003_finding_channel", finding_channel),
    Migration("0004_third_parties", third_parties_table),
    Migration("0005_host_header", host_header),
    Migration("0006_session_status_and_body_digest", session_status_and_body_digest),
    Migration("0007_flow_analysis_error", flow_analysis_error),
    Migration("0008_finding_policy", finding_policy),
    Migration("0009_flow_authenticated", flow_authenticated),
    Migration("0010_gpc", gpc),
    Migration("0011_session_uid", session_uid),
)
"""Every step, in the order it is applied."""


def applied_migrations(db: Store) -> list[str]:
    """The names of the steps a database has had, in the order they were applied."""
    if not db.table(MIGRATIONS_TABLE).exists():
        return []
    # PostgreSQL has no rowid; steps applied in one transaction share a time, and sort by name.
    order = "applied_at, name" if is_postgres(db) else "rowid"
    return [row[0] for row in db.execute(f"select name from [{MIGRATIONS_TABLE}] order by {order}")]


@contextmanager
def _schema_lock(db: Store) -> Iterator[None]:
    """One transaction that no other process applies steps in at the same time."""
    if is_postgres(db):
        with postgres(db).locked(MIGRATION_LOCK):
            yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if sqlite(db).conn.in_transaction:
            db.execute("ROLLBACK")
        raise


def migrate(db: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply the steps a database lacks, in order, in one transaction; return their names."""
    with _schema_lock(db):
        table = db.table(MIGRATIONS_TABLE)
        if not table.exists():
            table.create({"name": str, "applied_at": str}, pk="name")
        done = set(applied_migrations(db))
        new = [m for m in migrations if m.name not in done]
        for migration in new:
            migration.apply(db)
            table.insert({"name": migration.name, "applied_at": now_iso()})
    return [m.name for m in new]
