"""Leases, deadlines and dead letters on the memory store and a real SQLite file, and what
only a SQL store does: ``then`` in the write transaction, rolled back with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from eigen.kernel.store.base import JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job, JobEvent
from eigen.models.state import JobState
from tests.unit.store.contract import job_request
from tests.unit.store.lease_contract import T0, LeaseContract, check_deadline_backfill, leased, stored


class TestMemoryAndSqlite(LeaseContract):
    @pytest.fixture(params=["memory", "sqlite"])
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
        made: JobStore = (
            MemoryJobStore() if request.param == "memory" else SqlJobStore(sqlite_url(tmp_path / "j.db"))
        )
        yield made
        made.close()


class SqlThen:
    """``then`` on a SQL store: it gets the write transaction, and a ``then`` that raises
    takes the store's writes back with it. Subclasses supply ``sql_store``."""

    def test_then_gets_the_write_transaction(self, sql_store: SqlJobStore) -> None:
        seen: list[Any] = []

        def look(txn: Any) -> None:
            seen.append(txn.execute(sa.text("SELECT count(*) FROM jobs WHERE id = 'a'")).scalar_one())

        stored_job = Job("a", job_request(), JobState.PENDING, T0, T0)
        sql_store.create(stored_job, JobEvent("a", 1, JobState.PENDING, "state", T0), then=look)
        assert seen == [1]  # the job, not yet committed, is visible to its own transaction

    def test_a_failing_then_rolls_the_create_back(self, sql_store: SqlJobStore) -> None:
        def fail(txn: Any) -> None:
            txn.execute(sa.text("SELECT 1"))
            raise RuntimeError("queue is down")

        with pytest.raises(RuntimeError, match="queue is down"):
            sql_store.create(
                Job("a", job_request(), JobState.PENDING, T0, T0),
                JobEvent("a", 1, JobState.PENDING, "state", T0),
                then=fail,
            )
        assert sql_store.get("a") is None and sql_store.events("a") == []

    def test_a_failing_then_rolls_the_moves_and_their_dead_letter_back(self, sql_store: SqlJobStore) -> None:
        leased(sql_store, "j", "w1", T0)
        state, seq = sql_store.head("j") or (JobState.PENDING, 0)

        def bury_then_fail(txn: Any) -> None:
            sql_store.add_dead_letter("j", 3, "lost", "w1", within=txn)
            raise RuntimeError("crash")

        with pytest.raises(RuntimeError, match="crash"):
            sql_store.transition(
                "j",
                state,
                JobEvent("j", seq + 1, JobState.ERROR, "state", T0),
                {"worker_id": None},
                then=bury_then_fail,
            )
        job = sql_store.get("j")
        assert job is not None and (job.state, job.worker_id, job.last_seq) == (JobState.RUNNING, "w1", seq)
        assert sql_store.dead_letters() == []

    def test_the_sweeps_read_what_another_node_stored(self, sql_store: SqlJobStore) -> None:
        """A node's sweep finds jobs another node stored (requests not in its cache)."""
        leased(sql_store, "lapsed", "w1", T0, JobState.COMPILING)
        stored(sql_store, "late", deadline_at=T0)
        other = SqlJobStore(sql_store.url)
        try:
            (lapsed,) = other.expired_leases(T0 + 1)
            (late,) = [job for job in other.overdue(T0 + 1) if job.id == "late"]
        finally:
            other.close()
        assert lapsed.request == job_request() and lapsed.worker_id == "w1"
        assert late.request == job_request() and late.deadline_at == T0

    def test_the_sweeps_read_indexes(self, sql_store: SqlJobStore) -> None:
        for index in range(30):
            stored(sql_store, f"j{index}", deadline_at=T0 + index)
        plans = sql_store_plans(sql_store)
        # no scan of the whole table (history included): the lease sweep reads an index of
        # the jobs in play (its own, or the state index), the deadline sweep its own
        for plan in plans.values():
            assert "SCAN jobs" not in plan and "Seq Scan" not in plan, plans
        assert "ix_jobs_deadline" in plans["overdue"], plans


def sql_store_plans(store: SqlJobStore) -> dict[str, str]:
    """The query plans of the two sweeps (EXPLAIN on either dialect)."""
    from eigen.kernel.store import sql

    plans: dict[str, str] = {}
    with store.engine.connect() as conn:
        conn.execute(sa.text("ANALYZE jobs"))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SET enable_seqscan = off"))  # a few rows: make the index's use visible
        for name, statement in (("expired_leases", sql._EXPIRED_LEASES), ("overdue", sql._OVERDUE)):
            bound = statement.params(now=T0 + 100, limit=100)
            text = str(bound.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
            prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + text)
            plans[name] = " ".join(str(part) for row in rows for part in row)
    return plans


class TestSqliteThen(SqlThen):
    @pytest.fixture
    def sql_store(self, tmp_path: Path) -> Iterator[SqlJobStore]:
        made = SqlJobStore(sqlite_url(tmp_path / "j.db"))
        yield made
        made.close()


def test_upgrading_gives_unfinished_jobs_a_deadline(tmp_path: Path) -> None:
    check_deadline_backfill(sqlite_url(tmp_path / "old.db"))


def test_memory_runs_then_once_the_job_is_visible_and_keeps_it_if_then_fails() -> None:
    """The memory store has no transaction: ``then(None)`` runs after the write, outside
    its lock (so ``then`` may read the store), and a failing ``then`` takes nothing back."""
    store = MemoryJobStore()
    seen: list[Any] = []

    def look_then_fail(txn: Any) -> None:
        seen.append((txn, store.head("a")))
        raise RuntimeError("queue is down")

    with pytest.raises(RuntimeError, match="queue is down"):
        store.create(
            Job("a", job_request(), JobState.PENDING, T0, T0),
            JobEvent("a", 1, JobState.PENDING, "state", T0),
            then=look_then_fail,
        )
    assert seen == [(None, (JobState.PENDING, 1))]
    assert store.get("a") is not None
