"""Where a database lives: a SQLite file or a PostgreSQL server, parsed once from ``--db``.

``--db``, the ``phitrace_db`` option and the :data:`DB_ENV` variable all take
either a file path (SQLite, the default ``./phitrace.db``) or a URL
``postgresql://user@host:port/dbname`` (``postgres://`` too).  A SQLite
target stays a :class:`~pathlib.Path`, so everything that works on files
(private modes, refusing an output over the database, a file digest) is
unchanged; a server is a :class:`PostgresTarget`, whose text form never shows
the password, so every log line and error that names it is safe to show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

DB_ENV = "PHITRACE_DB"
"""Environment variable naming the database when ``--db`` (or ``phitrace_db``) is not given."""

DEFAULT_DB = "phitrace.db"
"""The database when nothing names one: a SQLite file in the working directory."""

SCHEMES = ("postgresql", "postgres")
"""URL schemes that name a PostgreSQL server."""


@dataclass(frozen=True)
class PostgresTarget:
    """A PostgreSQL database named by a URL; shown everywhere without its password."""

    url: str = field(repr=False)
    """The URL as given, password included: only ever handed to the driver."""
    display: str
    """The URL with any password replaced by ``***``: what logs and errors show."""

    def __str__(self) -> str:
        return self.display

    @property
    def password(self) -> str | None:
        """The password given in the URL (percent-decoded), if any."""
        password = urlsplit(self.url).password
        return unquote(password) if password is not None else None

    def without_password(self) -> str:
        """The URL with no password in it (libpq then reads ``PGPASSWORD`` or ``~/.pgpass``)."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        user, host = parts.username or "", parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))

    def __repr__(self) -> str:
        return f"PostgresTarget({self.display!r})"


Target = Path | PostgresTarget
"""A parsed database target: a SQLite file, or a PostgreSQL server."""


def _masked(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def is_postgres_url(text: str) -> bool:
    """True when ``text`` is a PostgreSQL URL (``postgresql://`` or ``postgres://``)."""
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def parse_target(value: str | os.PathLike[str]) -> Target:
    """A ``--db`` value as a target; raises ``ValueError`` with the reason for a bad URL.

    A URL needs a database name (``postgresql://user@host:5432/dbname``);
    the password may be in the URL, in ``PGPASSWORD`` or in ``~/.pgpass``
    (the driver reads the last two).  Anything else is a SQLite file path.
    """
    if isinstance(value, Path):
        return value
    text = os.fspath(value)
    if not is_postgres_url(text):
        return Path(text)
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"{_safe_text(text)} is not a valid PostgreSQL URL: {exc}") from None
    display = _masked(text)
    if not parts.path.strip("/"):
        raise ValueError(f"{display} names no database — use postgresql://user@host:port/dbname")
    return PostgresTarget(text, display)


def _safe_text(text: str) -> str:
    """A URL that may not parse, shown without anything between ``://`` and ``@``."""
    scheme, _, rest = text.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}" if "@" in rest else text


def default_target() -> str:
    """The database named by :data:`DB_ENV`, else :data:`DEFAULT_DB`."""
    return os.environ.get(DB_ENV, "").strip() or DEFAULT_DB


def files(targets: tuple[Target, ...] | list[Target]) -> tuple[Path, ...]:
    """The SQLite files among ``targets`` (what an output must never overwrite)."""
    return tuple(t for t in targets if isinstance(t, Path))
