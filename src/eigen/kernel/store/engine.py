"""Engines for the SQL job store: URL normalisation, pool settings, SQLite pragmas."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from eigen.errors import Unavailable

SUPPORTED_DIALECTS = ("sqlite", "postgresql")


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool of a server database (ignored for in-memory SQLite).

    ``recycle_s`` of 0 keeps connections forever; connections to a server database are
    checked with a cheap ping before use (``pool_pre_ping``), so a restarted PostgreSQL
    costs one retry and no failed request.
    """

    size: int = 5
    max_overflow: int = 10
    timeout_s: float = 30.0
    recycle_s: float = 1800.0


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain ``postgresql://`` and ``postgres://`` use psycopg 3."""
    parsed = sa.make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in SUPPORTED_DIALECTS:
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"
        )
    return parsed


def masked(url: str | URL) -> str:
    """The URL with its password hidden, for logs and command output."""
    parsed = sa.make_url(url) if isinstance(url, str) else url
    return parsed.render_as_string(hide_password=True)


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=10000")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL mode is kept in the file: set it only when it is not set yet. Switching needs
    the database to itself and fails at once ("database is locked", without the busy wait)
    while another connection writes: e.g. on a new file, a migrator that switched a moment
    earlier and is still in its first transaction (the file says WAL once that commits).
    Then wait for that writer the way SQLite waits for any (``BEGIN IMMEDIATE`` under the
    busy timeout) and look again."""
    if _journal_mode(cursor) == "wal":
        return
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("COMMIT")
        if _journal_mode(cursor) != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")


def _journal_mode(cursor: Any) -> str:
    return str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def json_text(value: Any) -> str:
    """A JSON column's text: orjson (a job's row in a tenth of the standard library's
    time), or the standard library for what orjson refuses (an integer beyond 64 bits).
    Reading stays with the standard library: orjson reads such integers as floats."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str | URL, pool: PoolOptions | None = None) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys on, or PostgreSQL via
    psycopg with ``pool_pre_ping``. A SQLite file's folder is created if missing."""
    parsed = normalize_url(url)
    options = pool or PoolOptions()
    file = sqlite_file(parsed)
    # A server database can drop connections (restart, idle timeout): ping on checkout. A
    # SQLite file cannot, and the ping would be one more statement on every store call.
    kwargs: dict[str, Any] = {"pool_pre_ping": parsed.get_backend_name() != "sqlite"}
    if parsed.get_backend_name() != "sqlite" or file is not None:
        kwargs.update(
            pool_size=options.size,
            max_overflow=options.max_overflow,
            pool_timeout=options.timeout_s,
            pool_recycle=options.recycle_s if options.recycle_s > 0 else -1,
        )
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(parsed, json_serializer=json_text, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", sqlite_pragmas)
    return engine


def unreachable_is_unavailable(engine: Engine) -> None:
    """Make a lost connection to ``engine``'s server database raise
    :class:`~eigen.errors.Unavailable` naming the database (a caller's retryable answer,
    never an internal error) instead of SQLAlchemy's error. The pool still discards the
    broken connection, and its pre-ping keeps reconnecting on its own; SQLite (a file)
    is left as it is."""
    if engine.dialect.name == "sqlite":
        return
    shown = masked(engine.url)

    def translate(context: sa.engine.ExceptionContext) -> None:
        original = context.original_exception
        if context.is_pre_ping or not (context.is_disconnect or _connection_lost(original)):
            return  # the pre-ping reconnects by itself; any other error is the statement's
        lines = str(original).strip().splitlines()
        reason = lines[0] if lines else type(original).__name__
        raise Unavailable(f"the job store's database {shown} is unreachable: {reason}") from original

    sa.event.listen(engine, "handle_error", translate)


def _connection_lost(error: BaseException) -> bool:
    """A psycopg error about the connection, not the statement: no SQLSTATE (the server
    was never reached), class 08 (connection exception), or the server shutting down,
    ending the session or starting up (57P01 to 57P03)."""
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
