"""Where sessions live: the ``sessions`` table of the job store's database (any node of a
cluster sees every session), or a dictionary for a kernel on the memory job store.

A session leaves ACTIVE once, by a compare-and-set on its state, so two nodes that both
see it due (or a close racing an expiry) end it once.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any, Protocol

import sqlalchemy as sa

from eigen.kernel.store import schema
from eigen.models.session import Session, SessionState


class SessionStore(Protocol):
    def put(self, session: Session) -> None: ...

    def get(self, session_id: str) -> Session | None: ...

    def end(self, session_id: str, state: SessionState, at: float, reason: str) -> Session | None:
        """Move an ACTIVE session to ``state``; the session as it is then, or None when it
        was not ACTIVE (another ended it first)."""

    def touch(self, session_id: str, at: float) -> None:
        """A job was submitted in the session, or one of its jobs ran, at ``at``: its idle
        time starts again."""

    def active(self, limit: int) -> list[Session]:
        """Up to ``limit`` ACTIVE sessions, those due first."""

    def recent(self, since: float) -> list[Session]:
        """The ACTIVE sessions with activity at or after ``since``."""


class SqlSessionStore:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def put(self, session: Session) -> None:
        with self._engine.begin() as connection:
            connection.execute(schema.sessions.insert().values(**_row(session)))

    def get(self, session_id: str) -> Session | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                schema.sessions.select().where(schema.sessions.c.id == session_id)
            ).first()
        return None if row is None else _session(row._mapping)

    def end(self, session_id: str, state: SessionState, at: float, reason: str) -> Session | None:
        table = schema.sessions
        with self._engine.begin() as connection:
            moved = connection.execute(
                table.update()
                .where(table.c.id == session_id, table.c.state == SessionState.ACTIVE.value)
                .values(state=state.value, ended_at=at, reason=reason)
            )
            if moved.rowcount != 1:
                return None
            row = connection.execute(table.select().where(table.c.id == session_id)).one()
        return _session(row._mapping)

    def touch(self, session_id: str, at: float) -> None:
        table = schema.sessions
        with self._engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.id == session_id, table.c.last_activity_at < at)
                .values(last_activity_at=at)
            )

    def active(self, limit: int) -> list[Session]:
        table = schema.sessions
        ends = (table.c.created_at + table.c.max_time_s, table.c.last_activity_at + table.c.idle_s)
        # the earlier of the two: SQLite's min() of two values, PostgreSQL's least()
        earlier = sa.func.least if self._engine.dialect.name == "postgresql" else sa.func.min
        due = earlier(*ends)
        query = table.select().where(table.c.state == SessionState.ACTIVE.value).order_by(due).limit(limit)
        with self._engine.connect() as connection:
            return [_session(row._mapping) for row in connection.execute(query)]

    def recent(self, since: float) -> list[Session]:
        table = schema.sessions
        query = table.select().where(
            table.c.state == SessionState.ACTIVE.value, table.c.last_activity_at >= since
        )
        with self._engine.connect() as connection:
            return [_session(row._mapping) for row in connection.execute(query)]


class MemorySessionStore:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def put(self, session: Session) -> None:
        with self._lock:
            self._sessions[session.id] = session

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.get(session_id)

    def end(self, session_id: str, state: SessionState, at: float, reason: str) -> Session | None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None or found.state is not SessionState.ACTIVE:
                return None
            self._sessions[session_id] = ended = dataclasses.replace(
                found, state=state, ended_at=at, reason=reason
            )
            return ended

    def touch(self, session_id: str, at: float) -> None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is not None and found.last_activity_at < at:
                self._sessions[session_id] = dataclasses.replace(found, last_activity_at=at)

    def active(self, limit: int) -> list[Session]:
        with self._lock:
            live = [s for s in self._sessions.values() if s.state is SessionState.ACTIVE]
        return sorted(live, key=lambda s: min(s.expires_at, s.idle_at))[:limit]

    def recent(self, since: float) -> list[Session]:
        with self._lock:
            return [
                s
                for s in self._sessions.values()
                if s.state is SessionState.ACTIVE and s.last_activity_at >= since
            ]


def _row(session: Session) -> dict[str, Any]:
    row = dataclasses.asdict(session)
    row["state"] = session.state.value
    return row


def _session(row: Any) -> Session:
    values = dict(row)
    values["state"] = SessionState(values["state"])
    return Session(**values)
