"""Leases, deadlines, dead letters and ``then`` on the real PostgreSQL server: the same
contract as memory and SQLite (tests/unit/store/test_leases.py), plus the races between
two engines (two nodes), where only row locks decide who wins.

Each test runs in a database of its own (tests/unit/store/postgres.py); without a reachable
server these tests skip, except under EIGEN_CI=1, where they fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from eigen.kernel.store.base import Transition
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.job import JobEvent
from eigen.models.state import JobState
from tests.unit.store.lease_contract import T0, LeaseContract, check_deadline_backfill, leased, move, stored
from tests.unit.store.postgres import fresh_database
from tests.unit.store.test_leases import SqlThen

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlJobStore]:
    made = SqlJobStore(database_url)
    yield made
    made.close()


@pytest.fixture
def sql_store(store: SqlJobStore) -> SqlJobStore:
    return store


class TestPostgresLeases(LeaseContract):
    """The lease contract of memory and SQLite, on PostgreSQL."""


class TestPostgresThen(SqlThen):
    """``then`` in the write transaction, on PostgreSQL."""


def test_upgrading_gives_unfinished_jobs_a_deadline(database_url: str) -> None:
    check_deadline_backfill(database_url)


def test_two_nodes_claim_each_job_once(database_url: str) -> None:
    """Two engines (two kernel nodes) compare-and-set the same QUEUED jobs to RUNNING in
    batches, in opposite orders: each job is claimed by exactly one, and neither deadlocks."""
    first, second = SqlJobStore(database_url), SqlJobStore(database_url)
    try:
        ids = [f"q{i:03d}" for i in range(200)]
        for job_id in ids:
            stored(first, job_id)
            assert move(first, job_id, JobState.COMPILING) and move(first, job_id, JobState.QUEUED)
        won: dict[str, set[str]] = {"n1": set(), "n2": set()}
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def claim(store: SqlJobStore, node: str, order: list[str]) -> None:
            try:
                start.wait()
                for chunk in range(0, len(order), 20):
                    moves = [
                        Transition(
                            job_id,
                            JobState.QUEUED,
                            JobEvent(job_id, 4, JobState.RUNNING, "state", time.time()),
                            {"worker_id": node, "lease_expires_at": time.time() + 10, "attempt": 1},
                        )
                        for job_id in order[chunk : chunk + 20]
                    ]
                    applied = store.transitions(moves)
                    won[node].update(m.job_id for m, ok in zip(moves, applied, strict=True) if ok)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=claim, args=(first, "n1", ids)),
            threading.Thread(target=claim, args=(second, "n2", ids[::-1])),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert won["n1"].isdisjoint(won["n2"]) and won["n1"] | won["n2"] == set(ids)
        owners = {job.id: job.worker_id for job in first.in_states((JobState.RUNNING,))}
        assert owners == {job_id: node for node, claimed in won.items() for job_id in claimed}
        print(f"\nclaims: n1 {len(won['n1'])}, n2 {len(won['n2'])} of {len(ids)}")
    finally:
        first.close()
        second.close()


def test_a_heartbeat_on_one_node_and_the_sweep_on_another_never_both_win(database_url: str) -> None:
    """One node renews its leases while another node's sweep puts the same jobs back, in
    opposite orders: exactly one wins each job, and the two never deadlock."""
    worker, sweeper = SqlJobStore(database_url), SqlJobStore(database_url)
    try:
        ids = [f"r{i:03d}" for i in range(200)]
        lapse = T0 + 10
        for job_id in ids:
            leased(worker, job_id, "w1", lapse)
        renewed: set[str] = set()
        swept: set[str] = set()
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def heartbeat() -> None:
            try:
                start.wait()
                for chunk in range(0, len(ids), 25):
                    renewed.update(worker.renew_leases("w1", ids[chunk : chunk + 25], lapse + 30, now=lapse))
            except BaseException as exc:
                errors.append(exc)

        def sweep() -> None:
            try:
                start.wait()
                order = ids[::-1]
                for chunk in range(0, len(order), 25):
                    moves = [
                        Transition(
                            job_id,
                            JobState.RUNNING,
                            JobEvent(job_id, 5, JobState.QUEUED, "state", time.time()),
                            {"worker_id": None, "lease_expires_at": None, "attempt": 2},
                            lease_before=lapse + 0.5,
                        )
                        for job_id in order[chunk : chunk + 25]
                    ]
                    applied = sweeper.transitions(moves)
                    swept.update(m.job_id for m, ok in zip(moves, applied, strict=True) if ok)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=heartbeat), threading.Thread(target=sweep)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert renewed.isdisjoint(swept) and renewed | swept == set(ids)
        running = {job.id for job in worker.in_states((JobState.RUNNING,))}
        assert running == renewed
        print(f"\nrenewed {len(renewed)}, swept {len(swept)} of {len(ids)}")
    finally:
        worker.close()
        sweeper.close()
