"""The audit writer: a log line per event at once, rows in batches off the calling
thread, a bounded queue, close() flushes, and never a secret; the SQL and memory stores."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from eigen.errors import Unauthenticated
from eigen.kernel.store import migrate
from eigen.kernel.store.audit import MemoryAuditStore, SqlAuditStore
from eigen.kernel.store.engine import make_engine
from eigen.kernel.store.sql import sqlite_url
from eigen.models.audit import AuditEvent
from eigen.models.principal import Principal
from eigen.security.audit import AuditWriter, audit_log_from
from eigen.security.authenticator import Credentials
from eigen.security.guard import Guard
from tests.unit.observability.support import captured_logs

SECRET = "ek_live_Zq8uXh3mN0tAsEcReT"


def event(n: int = 0, *, tenant: str = "lab", at: float | None = None, **fields: str) -> AuditEvent:
    values: dict[str, str] = {
        "method": "api_key",
        "tenant": tenant,
        "subject": f"user-{n}",
        "operation": "SubmitJob",
        **fields,
    }
    return AuditEvent(at=time.time() if at is None else at, kind="refusal", outcome="denied", **values)


class WatchedStore(MemoryAuditStore):
    """A memory store that says which threads wrote and when something arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[str] = set()
        self.arrived = threading.Event()

    def append(self, events: Sequence[AuditEvent]) -> None:
        self.threads.add(threading.current_thread().name)
        super().append(events)
        self.arrived.set()


def test_rows_are_written_in_batches_by_a_thread_of_their_own() -> None:
    store = WatchedStore()
    writer = AuditWriter(store, flush_every_s=3600)  # only the size wakes it
    for n in range(1200):
        writer.record(event(n))
    assert store.arrived.wait(10)  # 500 queued: written without waiting for the timer
    writer.close()
    assert sum(store.batches) == 1200
    assert max(store.batches) <= 500 and len(store.batches) >= 3
    assert store.threads == {"eigen-audit-writer"}
    assert writer.written == 1200 and writer.dropped == 0


def test_rows_are_written_every_flush_interval() -> None:
    store = WatchedStore()
    writer = AuditWriter(store, flush_every_s=0.05)
    writer.record(event(1))
    writer.record(event(2))
    assert store.arrived.wait(10)
    assert writer.flush()
    assert [e.subject for e in store.recent()] == ["user-2", "user-1"]
    writer.close()


def test_close_writes_what_is_queued_and_later_events_only_log() -> None:
    store = MemoryAuditStore()
    writer = AuditWriter(store, flush_every_s=3600)
    for n in range(10):
        writer.record(event(n))
    assert store.batches == []
    writer.close()
    assert store.batches == [10]
    writer.record(event(11))
    assert len(store.recent()) == 10


class BlockedStore(MemoryAuditStore):
    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def append(self, events: Sequence[AuditEvent]) -> None:
        self.entered.set()
        assert self.release.wait(10)
        super().append(events)


def test_a_full_queue_drops_rows_counts_them_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    store = BlockedStore()
    writer = AuditWriter(store, flush_every_s=0.01, batch_size=1, queue_size=5)
    writer.record(event(0))
    assert store.entered.wait(10)  # the writer holds event 0, the database does not answer
    with caplog.at_level(logging.INFO):
        started = time.monotonic()
        for n in range(1, 21):
            writer.record(event(n))
        assert time.monotonic() - started < 1  # the callers never waited on the database
    assert writer.dropped == 15
    warnings = [r for r in caplog.records if "audit queue full" in r.getMessage()]
    assert len(warnings) == 1
    assert len([r for r in caplog.records if r.name == "eigen.audit"]) == 20  # every event logged
    store.release.set()
    writer.close()
    assert len(store.recent()) == 6


class BrokenStore(MemoryAuditStore):
    def append(self, events: Sequence[AuditEvent]) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))


def test_a_refused_batch_is_counted_and_the_writer_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    writer = AuditWriter(BrokenStore(), flush_every_s=3600)
    with caplog.at_level(logging.WARNING):
        writer.record(event(1))
        assert writer.flush()
    assert writer.lost == 1
    assert any("audit rows not written" in r.getMessage() for r in caplog.records)
    writer.close()


def test_the_log_line_has_the_fields_and_no_secret() -> None:
    store = MemoryAuditStore()
    writer = audit_log_from(store)
    with captured_logs("INFO") as logs:
        writer.record(
            event(
                1,
                peer="ipv4:10.0.0.7:51000",
                request_id="req-1",
                reason=f"EIGEN_UNAUTHENTICATED: bad key authorization: Bearer {SECRET}",
            )
        )
        writer.record(event(2, subject=f"api_key={SECRET}"))
    writer.close()
    lines = [r for r in logs.records() if r["logger"] == "eigen.audit"]
    assert len(lines) == 2
    first = lines[0]
    for name, value in {
        "kind": "refusal",
        "outcome": "denied",
        "method": "api_key",
        "tenant": "lab",
        "subject": "user-1",
        "peer": "ipv4:10.0.0.7:51000",
        "operation": "SubmitJob",
        "request_id": "req-1",
    }.items():
        assert first[name] == value
    assert SECRET not in logs.text
    assert all(SECRET not in repr(row) for row in store.recent())


def test_no_secret_reaches_a_row_through_the_guard() -> None:
    class RefusingAuthenticator:
        def authenticate(self, credentials: Credentials) -> Principal:
            raise Unauthenticated(
                "unknown API key",
                metadata={"method": "api_key", "subject": "k_12ab", "reason": "unknown key id"},
            )

    store = MemoryAuditStore()
    writer = AuditWriter(store)
    guard = Guard(RefusingAuthenticator(), None, writer)  # type: ignore[arg-type]
    credentials = Credentials(
        headers={"authorization": f"Bearer {SECRET}"}, peer="ipv4:127.0.0.1:4000", certificate_names=()
    )
    with captured_logs("INFO") as logs, pytest.raises(Unauthenticated):
        guard.authenticate(credentials, "GetJob")
    writer.close()
    (row,) = store.recent()
    assert (row.kind, row.outcome, row.method, row.subject, row.operation) == (
        "authentication",
        "failure",
        "api_key",
        "k_12ab",
        "GetJob",
    )
    assert SECRET not in repr(row) and SECRET not in logs.text


def test_without_a_store_events_only_log() -> None:
    writer = audit_log_from(None)
    with captured_logs("INFO") as logs:
        writer.record(event(1))
    writer.close()
    assert [r["event"] for r in logs.records() if r["logger"] == "eigen.audit"] == ["audit refusal denied"]


# --- stores ----------------------------------------------------------------------------


@pytest.fixture
def sql_store(tmp_path: Path) -> SqlAuditStore:
    engine = make_engine(sqlite_url(tmp_path / "eigen.db"))
    migrate.upgrade(engine)
    return SqlAuditStore(engine)


@pytest.mark.parametrize("kind", ["memory", "sql"])
def test_stores_list_newest_first_by_time_and_tenant(kind: str, sql_store: SqlAuditStore) -> None:
    store = MemoryAuditStore() if kind == "memory" else sql_store
    store.append([event(1, at=100.0), event(2, at=200.0, tenant="other"), event(3, at=300.0)])
    store.append([event(4, at=300.0)])
    assert [e.subject for e in store.recent()] == ["user-4", "user-3", "user-2", "user-1"]
    assert [e.subject for e in store.recent(tenant="lab")] == ["user-4", "user-3", "user-1"]
    assert [e.subject for e in store.recent(since=200.0)] == ["user-4", "user-3", "user-2"]
    assert [e.subject for e in store.recent(limit=1)] == ["user-4"]
    assert store.recent(tenant="nobody") == []
    (last,) = store.recent(limit=1)
    assert last == event(4, at=300.0)


@pytest.mark.parametrize("kind", ["memory", "sql"])
def test_texts_are_cut_to_their_column(kind: str, sql_store: SqlAuditStore) -> None:
    store = MemoryAuditStore() if kind == "memory" else sql_store
    store.append([event(1, reason="x" * 5000, peer="p" * 500, at=1.0)])
    (row,) = store.recent()
    assert len(row.reason) == 512 and row.reason.endswith("…")
    assert len(row.peer) == 128
