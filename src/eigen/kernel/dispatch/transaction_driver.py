"""pgqueuer's synchronous driver port over a SQLAlchemy Connection: pgqueuer's enqueue writes
its queue entries in the caller's open transaction (the one that writes the jobs), so a job
and its entry commit or roll back together.

pgqueuer's own psycopg drivers insist on an autocommit connection; this one runs its
statements on the DBAPI connection under the SQLAlchemy transaction, with psycopg's raw
cursor (pgqueuer's SQL uses PostgreSQL's ``$1`` placeholders).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import Connection


class TransactionDriver:
    """pgqueuer ``SyncDriver``: ``fetch`` in ``connection``'s transaction."""

    def __init__(self, connection: Connection) -> None:
        raw: Any = connection.connection.driver_connection
        if not isinstance(raw, psycopg.Connection):
            raise TypeError(f"a psycopg (3) connection is needed, not {type(raw).__name__}")
        self._raw: psycopg.Connection[Any] = raw

    def fetch(self, query: str, *args: object) -> list[dict[str, object]]:
        with psycopg.RawCursor(self._raw, row_factory=dict_row) as cursor:
            cursor.execute(query, args or None)
            return cursor.fetchall() if cursor.description is not None else []
