"""Where audit events are kept: the ``audit_events`` table of the job store's database
(SQLite or PostgreSQL, through the same metadata and migrations), or memory for tests.

The security layer's audit writer appends events in batches from a thread of its own;
``eigen-server audit list`` reads them back, newest first. Every text is cut to its
column's width (PostgreSQL refuses a longer one, and a refused batch would lose every
event in it).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from eigen.kernel.store.schema import audit_events
from eigen.models.audit import AuditEvent

TEXT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(AuditEvent) if f.name != "at")

WIDTHS: dict[str, int] = {
    name: int(getattr(audit_events.c[name].type, "length", None) or 0) for name in TEXT_FIELDS
}
"""The width of each text column (0: unbounded)."""


def fitted(event: AuditEvent) -> AuditEvent:
    """``event`` with every text cut to its column's width (an ellipsis marks a cut)."""
    changes: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = str(getattr(event, name) or "")
        width = WIDTHS[name]
        if width and len(value) > width:
            changes[name] = value[: width - 1] + "…"
        elif value != getattr(event, name):
            changes[name] = value
    return replace(event, **changes) if changes else event  # type: ignore[arg-type]


class AuditStore(Protocol):
    def append(self, events: Sequence[AuditEvent]) -> None:
        """Keep ``events`` (one transaction)."""
        ...

    def recent(
        self, *, since: float | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """At most ``limit`` events at or after ``since`` (of ``tenant``), newest first."""
        ...


class MemoryAuditStore:
    """Audit events in a list (unit tests, an embedded stack without a database)."""

    def __init__(self) -> None:
        self._events: list[AuditEvent] = []
        self._lock = threading.Lock()
        self.batches: list[int] = []  # the size of each append, in order

    def append(self, events: Sequence[AuditEvent]) -> None:
        with self._lock:
            self._events.extend(fitted(event) for event in events)
            self.batches.append(len(events))

    def recent(
        self, *, since: float | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        with self._lock:
            found = [
                event
                for event in reversed(self._events)
                if (since is None or event.at >= since) and (tenant is None or event.tenant == tenant)
            ]
        found.sort(key=lambda event: event.at, reverse=True)  # stable: later appends first on ties
        return found[:limit]


class SqlAuditStore:
    """Audit events in the ``audit_events`` table over ``engine`` (the schema is the job
    store's: ``eigen-server migrate`` or the store's own start creates it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def append(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        rows = [
            {"at": event.at, **{name: getattr(event, name) for name in TEXT_FIELDS}}
            for event in map(fitted, events)
        ]
        with self.engine.begin() as connection:
            connection.execute(audit_events.insert(), rows)

    def recent(
        self, *, since: float | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        query = sa.select(audit_events).order_by(audit_events.c.at.desc(), audit_events.c.id.desc())
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if tenant is not None:
            query = query.where(audit_events.c.tenant == tenant)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(max(0, limit))).mappings().all()
        return [
            AuditEvent(at=row["at"], **{name: row[name] for name in TEXT_FIELDS})  # type: ignore[arg-type]
            for row in rows
        ]
