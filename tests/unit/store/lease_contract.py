"""Leases, deadlines, dead letters and ``then`` of every JobStore. Subclasses supply a
``store`` fixture: memory and SQLite in tests/unit/store/test_leases.py, PostgreSQL in
tests/integration/test_store_leases_postgres.py."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from eigen.errors import NotFound
from eigen.kernel.events import EventBus
from eigen.kernel.lifecycle import Lifecycle, Move
from eigen.kernel.store.base import JobStore, Transition
from eigen.models.job import Job, JobEvent
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.state import JobState
from tests.unit.store.contract import a_result, job_request

T0 = 1_700_000_000.0


def stored(
    store: JobStore,
    job_id: str,
    *,
    deadline_at: float | None = None,
    tenant: str = DEFAULT_TENANT,
    created: float = T0,
) -> Job:
    job = Job(
        id=job_id,
        request=job_request(),
        state=JobState.PENDING,
        created_at=created,
        updated_at=created,
        tenant=tenant,
        deadline_at=deadline_at,
    )
    store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", created))
    return job


def move(
    store: JobStore, job_id: str, target: JobState, *, lease_before: float | None = None, **changes: Any
) -> bool:
    """One compare-and-set from the job's current state to ``target``."""
    head = store.head(job_id)
    assert head is not None
    state, seq = head
    return store.transition(
        job_id,
        state,
        JobEvent(job_id, seq + 1, target, "state", time.time()),
        changes,
        lease_before=lease_before,
    )


def leased(
    store: JobStore, job_id: str, worker: str, until: float, state: JobState = JobState.RUNNING
) -> None:
    """A job ``worker`` holds in ``state`` until ``until`` (via the states a worker takes)."""
    stored(store, job_id)
    if state is JobState.RUNNING:
        assert move(store, job_id, JobState.COMPILING)
        assert move(store, job_id, JobState.QUEUED)
    assert move(store, job_id, state, worker_id=worker, lease_expires_at=until, attempt=1)


def swept_and_claimed(store: JobStore, job_id: str, worker: str, attempt: int) -> Job:
    """The lease sweep puts the job back (RUNNING -> QUEUED, nobody's) and ``worker``
    claims it again (QUEUED -> RUNNING, ``attempt``): the job as that worker holds it."""
    assert move(store, job_id, JobState.QUEUED, worker_id=None, lease_expires_at=None)
    assert move(store, job_id, JobState.RUNNING, worker_id=worker, lease_expires_at=T0 + 20, attempt=attempt)
    job = store.get(job_id)
    assert job is not None
    return job


def finish(lifecycle: Lifecycle, claim: Job, counts: dict[str, int]) -> Job | None:
    """The worker holding ``claim`` records its result: its fenced move to DONE."""
    return lifecycle.move(
        claim.id, JobState.DONE, "done", snapshot=claim, result=a_result(claim.id, counts), fenced=True
    )


class LeaseContract:
    """Not collected itself (no ``Test`` prefix)."""

    # -- the new columns ------------------------------------------------------------------
    def test_create_keeps_the_deadline(self, store: JobStore) -> None:
        stored(store, "d1", deadline_at=T0 + 60.5)
        stored(store, "d2")
        first, second = store.get("d1"), store.get("d2")
        assert first is not None and first.deadline_at == T0 + 60.5
        assert second is not None and second.deadline_at is None
        assert first.worker_id is None and first.lease_expires_at is None

    def test_a_transition_sets_worker_lease_and_attempt(self, store: JobStore) -> None:
        leased(store, "j", "w1", T0 + 10)
        job = store.get("j")
        assert job is not None
        assert (job.state, job.worker_id, job.lease_expires_at, job.attempt) == (
            JobState.RUNNING,
            "w1",
            T0 + 10,
            1,
        )
        assert move(store, "j", JobState.QUEUED, worker_id=None, lease_expires_at=None, attempt=2)
        job = store.get("j")
        assert job is not None and (job.worker_id, job.lease_expires_at, job.attempt) == (None, None, 2)
        listed = store.in_states((JobState.QUEUED,))
        assert [j.attempt for j in listed] == [2]

    # -- then -----------------------------------------------------------------------------
    def test_then_runs_once_per_write(self, store: JobStore) -> None:
        calls: list[str] = []
        job = Job("t1", job_request(), JobState.PENDING, T0, T0)
        store.create(
            job, JobEvent("t1", 1, JobState.PENDING, "state", T0), then=lambda txn: calls.append("create")
        )
        batch = [
            (
                Job(f"t{i}", job_request(), JobState.PENDING, T0, T0),
                JobEvent(f"t{i}", 1, JobState.PENDING, "state", T0),
            )
            for i in (2, 3)
        ]
        store.create_many(batch, then=lambda txn: calls.append("many"))
        assert calls == ["create", "many"]

    def test_then_of_a_refused_move_does_not_run(self, store: JobStore) -> None:
        stored(store, "a")
        stored(store, "b")
        calls: list[str] = []
        moves = [
            Transition(
                "b",
                JobState.PENDING,
                JobEvent("b", 2, JobState.COMPILING, "state", T0),
                then=lambda _: calls.append("b"),
            ),
            # wrong expected state: refused
            Transition(
                "a",
                JobState.QUEUED,
                JobEvent("a", 2, JobState.RUNNING, "state", T0),
                then=lambda _: calls.append("a"),
            ),
        ]
        assert store.transitions(moves, then=lambda _: calls.append("batch")) == [True, False]
        assert calls == ["b", "batch"]
        refused = store.transition(
            "a", JobState.RUNNING, JobEvent("a", 2, JobState.DONE, "state", T0), {}, then=calls.append
        )
        assert not refused and calls == ["b", "batch"]

    def test_a_dead_letter_written_in_then_commits_with_the_move(self, store: JobStore) -> None:
        leased(store, "dl", "w9", T0)
        state, seq = store.head("dl") or (JobState.PENDING, 0)
        assert store.transition(
            "dl",
            state,
            JobEvent("dl", seq + 1, JobState.ERROR, "state", T0),
            {"worker_id": None, "error_code": "LEASE_LOST"},
            then=lambda txn: store.add_dead_letter(
                "dl", 3, "lease lost 3 times", "w9", within=txn, at=T0 + 1
            ),
        )
        letters = store.dead_letters()
        assert [(d.job_id, d.tenant, d.attempts, d.reason, d.last_worker, d.at) for d in letters] == [
            ("dl", DEFAULT_TENANT, 3, "lease lost 3 times", "w9", T0 + 1)
        ]
        job = store.get("dl")
        assert job is not None and (job.state, job.error_code) == (JobState.ERROR, "LEASE_LOST")

    # -- renewing ---------------------------------------------------------------------------
    def test_renew_extends_only_the_workers_live_leases(self, store: JobStore) -> None:
        now = time.time()
        leased(store, "mine", "w1", now + 5)
        leased(store, "compiling", "w1", now + 5, JobState.COMPILING)
        leased(store, "theirs", "w2", now + 5)
        leased(store, "lapsed", "w1", now - 1)
        leased(store, "done", "w1", now + 5)
        assert move(store, "done", JobState.DONE)
        asked = ["mine", "compiling", "theirs", "lapsed", "done", "missing"]
        assert store.renew_leases("w1", asked, now + 30) == {"mine", "compiling"}
        assert store.renew_leases("w1", [], now + 30) == set()
        for job_id, until in [
            ("mine", now + 30),
            ("compiling", now + 30),
            ("theirs", now + 5),
            ("lapsed", now - 1),
        ]:
            job = store.get(job_id)
            assert job is not None and job.lease_expires_at == until, job_id

    def test_a_lapsed_lease_is_never_renewed(self, store: JobStore) -> None:
        leased(store, "j", "w1", T0 + 10)
        assert store.renew_leases("w1", ["j"], T0 + 30, now=T0 + 10) == {"j"}  # at the lapse: still live
        assert store.renew_leases("w1", ["j"], T0 + 60, now=T0 + 30.001) == set()
        job = store.get("j")
        assert job is not None and job.lease_expires_at == T0 + 30

    # -- the sweeps ---------------------------------------------------------------------------
    def test_expired_leases_oldest_first(self, store: JobStore) -> None:
        leased(store, "late", "w1", T0 + 3)
        leased(store, "early", "w2", T0 + 1, JobState.COMPILING)
        leased(store, "live", "w1", T0 + 100)
        leased(store, "ended", "w1", T0)
        assert move(store, "ended", JobState.DONE)
        stored(store, "pending")
        assert [j.id for j in store.expired_leases(T0 + 50)] == ["early", "late"]
        assert [j.id for j in store.expired_leases(T0 + 50, limit=1)] == ["early"]
        assert store.expired_leases(T0 + 1) == []  # strictly before now
        found = store.expired_leases(T0 + 2)
        assert [(j.id, j.worker_id, j.state) for j in found] == [("early", "w2", JobState.COMPILING)]

    def test_overdue_earliest_first(self, store: JobStore) -> None:
        stored(store, "b", deadline_at=T0 + 2)
        stored(store, "a", deadline_at=T0 + 1)
        stored(store, "later", deadline_at=T0 + 100)
        stored(store, "never")
        stored(store, "over", deadline_at=T0)
        assert move(store, "over", JobState.CANCELLED)
        assert [j.id for j in store.overdue(T0 + 2)] == ["a", "b"]  # deadline_at <= now
        assert [j.id for j in store.overdue(T0 + 2, limit=1)] == ["a"]
        assert store.overdue(T0) == []
        leased(store, "run", "w", T0 + 10)
        assert move(store, "run", JobState.QUEUED)
        # a job keeps its deadline through the stages until it ends
        assert move(store, "run", JobState.RUNNING, deadline_at=T0 + 1.5)
        assert [j.id for j in store.overdue(T0 + 1.5)] == ["a", "run"]

    def test_the_sweeps_move_is_refused_once_the_lease_was_renewed(self, store: JobStore) -> None:
        leased(store, "j", "w1", T0 + 10)
        found = store.expired_leases(T0 + 11)
        assert [j.id for j in found] == ["j"]
        assert store.renew_leases("w1", ["j"], T0 + 40, now=T0 + 10) == {"j"}  # a heartbeat just in time
        assert not move(store, "j", JobState.QUEUED, lease_before=T0 + 11, worker_id=None)
        assert move(store, "j", JobState.QUEUED, lease_before=T0 + 41, worker_id=None, attempt=2)

    # -- dead letters ---------------------------------------------------------------------------
    def test_dead_letters_newest_first_by_tenant_with_a_cursor(self, store: JobStore) -> None:
        for index, tenant in enumerate(["acme", "beta", "acme", "acme"]):
            stored(store, f"j{index}", tenant=tenant)
            store.add_dead_letter(f"j{index}", 3, f"reason {index}", f"w{index}", at=T0 + index)
        assert [d.job_id for d in store.dead_letters()] == ["j3", "j2", "j1", "j0"]
        acme = store.dead_letters(tenant="acme", limit=2)
        assert [(d.job_id, d.tenant) for d in acme] == [("j3", "acme"), ("j2", "acme")]
        last = acme[-1]
        assert [d.job_id for d in store.dead_letters(tenant="acme", before=(last.at, last.job_id))] == ["j0"]
        assert store.dead_letters(tenant="nobody") == []

    def test_a_second_dead_letter_replaces_the_first(self, store: JobStore) -> None:
        stored(store, "j")
        store.add_dead_letter("j", 3, "first", at=T0)
        store.add_dead_letter("j", 4, "second", "w2", at=T0 + 1)
        assert [(d.attempts, d.reason, d.last_worker, d.at) for d in store.dead_letters()] == [
            (4, "second", "w2", T0 + 1)
        ]

    def test_a_dead_letter_of_no_job_is_not_found(self, store: JobStore) -> None:
        with pytest.raises(NotFound):
            store.add_dead_letter("nope", 3, "gone")
        assert store.dead_letters() == []

    # -- races ------------------------------------------------------------------------------------
    def test_two_claimers_never_both_win(self, store: JobStore) -> None:
        """Two workers compare-and-set the same QUEUED jobs to RUNNING at once: each job
        goes to exactly one of them."""
        ids = [f"q{i:03d}" for i in range(120)]
        for job_id in ids:
            stored(store, job_id)
            assert move(store, job_id, JobState.COMPILING)
            assert move(store, job_id, JobState.QUEUED)
        won: dict[str, list[str]] = {"w1": [], "w2": []}
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def claim(worker: str, order: list[str]) -> None:
            try:
                start.wait()
                for job_id in order:
                    moved = store.transition(
                        job_id,
                        JobState.QUEUED,
                        JobEvent(job_id, 4, JobState.RUNNING, "state", time.time()),
                        {"worker_id": worker, "lease_expires_at": time.time() + 10, "attempt": 1},
                    )
                    if moved:
                        won[worker].append(job_id)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=claim, args=("w1", ids)),
            threading.Thread(target=claim, args=("w2", random.Random(7).sample(ids, len(ids)))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert sorted(won["w1"] + won["w2"]) == ids  # each once
        for job_id in ids:
            job = store.get(job_id)
            assert job is not None and job.worker_id in won and job_id in won[job.worker_id]

    def test_a_heartbeat_and_the_sweep_never_both_win(self, store: JobStore) -> None:
        """The worker renews its leases while the sweep puts the same jobs back, both
        having seen the leases at their lapse: for each job exactly one of them wins."""
        ids = [f"r{i:03d}" for i in range(120)]
        lapse = T0 + 10
        for job_id in ids:
            leased(store, job_id, "w1", lapse)
        renewed: set[str] = set()
        swept: set[str] = set()
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def heartbeat() -> None:
            try:
                start.wait()
                for chunk in range(0, len(ids), 10):
                    renewed.update(store.renew_leases("w1", ids[chunk : chunk + 10], lapse + 30, now=lapse))
            except BaseException as exc:
                errors.append(exc)

        def sweep() -> None:
            try:
                start.wait()
                order = random.Random(3).sample(ids, len(ids))
                for chunk in range(0, len(order), 10):
                    moves = []
                    for job_id in order[chunk : chunk + 10]:
                        moves.append(
                            Transition(
                                job_id,
                                JobState.RUNNING,
                                JobEvent(job_id, 5, JobState.QUEUED, "state", time.time()),
                                {"worker_id": None, "lease_expires_at": None, "attempt": 2},
                                lease_before=lapse + 0.5,
                            )
                        )
                    applied = store.transitions(moves)
                    swept.update(m.job_id for m, ok in zip(moves, applied, strict=True) if ok)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=heartbeat), threading.Thread(target=sweep)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert renewed.isdisjoint(swept)
        assert renewed | swept == set(ids)
        for job_id in ids:
            job = store.get(job_id)
            assert job is not None
            expected = (JobState.RUNNING, "w1") if job_id in renewed else (JobState.QUEUED, None)
            assert (job.state, job.worker_id) == expected

    # -- fencing: a stale worker's outcome --------------------------------------------------
    def test_a_stale_worker_cannot_record_its_result_the_current_one_can(
        self, store: JobStore, caplog: pytest.LogCaptureFixture
    ) -> None:
        lifecycle = Lifecycle(store, EventBus())
        leased(store, "f", "w1", T0 + 10)
        stale = store.get("f")  # w1's claim, attempt 1: its lease lapses while it still runs
        assert stale is not None
        current = swept_and_claimed(store, "f", "w2", attempt=2)
        with caplog.at_level("WARNING", logger="eigen.kernel.lifecycle"):
            assert finish(lifecycle, stale, {"00": 1}) is None
        (line,) = [r for r in caplog.records if "stale outcome discarded" in r.getMessage()]
        assert (line.job_id, line.worker, line.attempt) == ("f", "w1", 1)  # type: ignore[attr-defined]
        job = store.get("f")
        assert job is not None and (job.state, job.worker_id, job.attempt) == (JobState.RUNNING, "w2", 2)
        assert store.result("f") is None  # the stale result was discarded
        done = finish(lifecycle, current, {"11": 2})
        assert done is not None and done.state is JobState.DONE
        assert store.result("f") == a_result("f", {"11": 2})

    def test_the_same_worker_claiming_again_fences_its_earlier_attempt(self, store: JobStore) -> None:
        lifecycle = Lifecycle(store, EventBus())
        leased(store, "g", "w1", T0 + 10)
        stale = store.get("g")
        assert stale is not None
        swept_and_claimed(store, "g", "w1", attempt=2)  # w1 again: only the attempt tells them apart
        failed = lifecycle.move("g", JobState.ERROR, "boom", snapshot=stale, fenced=True, error_code="X")
        assert failed is None
        ended = lifecycle.move_many([Move(stale, JobState.DONE, result=a_result("g"), fenced=True)])
        assert ended == [None]
        job = store.get("g")
        assert job is not None and (job.state, job.attempt, job.error_code) == (JobState.RUNNING, 2, None)
        assert store.result("g") is None

    def test_a_fenced_move_follows_the_claims_own_progress(self, store: JobStore) -> None:
        """A hybrid run appends progress events after its snapshot: its move re-reads
        the job, finds it still in its claim, and applies."""
        lifecycle = Lifecycle(store, EventBus())
        leased(store, "h", "w1", T0 + 10)
        claim = store.get("h")
        assert claim is not None
        assert lifecycle.progress("h", {"iteration": 1}) and lifecycle.progress("h", {"iteration": 2})
        done = finish(lifecycle, claim, {"01": 4})
        assert done is not None and done.state is JobState.DONE and done.last_seq == claim.last_seq + 3
        assert store.result("h") == a_result("h", {"01": 4})

    def test_a_stale_loops_progress_never_overwrites_the_live_runs_checkpoint(self, store: JobStore) -> None:
        lifecycle = Lifecycle(store, EventBus())
        leased(store, "p", "w1", T0 + 10)
        stale = store.get("p")
        assert stale is not None
        assert lifecycle.progress("p", {"iteration": 1}, checkpoint={"x": [1.0]}, claim=stale)
        current = swept_and_claimed(store, "p", "w2", attempt=2)
        assert lifecycle.progress("p", {"iteration": 1}, checkpoint={"x": [2.0]}, claim=current)
        assert not lifecycle.progress("p", {"iteration": 2}, checkpoint={"x": [9.0]}, claim=stale)
        assert store.checkpoint("p") == {"x": [2.0]}
        assert lifecycle.progress("p", {"iteration": 2}, checkpoint={"x": [3.0]}, claim=current)
        assert store.checkpoint("p") == {"x": [3.0]}

    def test_a_cancel_and_the_sweep_are_not_fenced(self, store: JobStore) -> None:
        lifecycle = Lifecycle(store, EventBus())
        leased(store, "c", "w1", T0 + 10)
        claim = store.get("c")
        assert claim is not None
        cancelled = lifecycle.move("c", JobState.CANCELLED, "cancelled by request")
        assert cancelled is not None and cancelled.state is JobState.CANCELLED
        assert finish(lifecycle, claim, {"00": 1}) is None  # cancelled meanwhile: nothing to record
        assert store.result("c") is None
        leased(store, "s", "w1", T0 + 10)
        back = lifecycle.move("s", JobState.QUEUED, "requeued", lease_before=T0 + 11, worker_id=None)
        assert back is not None and back.state is JobState.QUEUED

    def test_a_result_still_commits_with_its_move(self, store: JobStore) -> None:
        leased(store, "r", "w1", T0 + 10)
        state, seq = store.head("r") or (JobState.PENDING, 0)
        assert store.transition(
            "r", state, JobEvent("r", seq + 1, JobState.DONE, "state", T0), {"worker_id": None}, a_result("r")
        )
        assert store.result("r") == a_result("r")


def check_deadline_backfill(database_url: str) -> None:
    """Upgrading from 0003 gives stored unfinished jobs a deadline (created + the request's
    timeout, else 3600 s) and leaves ended jobs without one."""
    from eigen.kernel.store import migrate
    from eigen.kernel.store.engine import make_engine
    from eigen.kernel.store.sql import SqlJobStore
    from tests.unit.store.migration_contract import legacy_job_row

    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0003")
        legacy = sa.MetaData()
        with engine.begin() as connection:
            legacy.reflect(connection)
            jobs = legacy.tables["jobs"]
            timed = legacy_job_row("timed", T0)
            timed["request"] = job_request(timeout_seconds=90.5).model_dump(mode="json")
            for row, state in (
                (timed, "QUEUED"),
                (legacy_job_row("plain", T0), "RUNNING"),
                (legacy_job_row("ended", T0), "DONE"),
            ):
                connection.execute(jobs.insert().values(**{**row, "state": state, "tenant": DEFAULT_TENANT}))
    finally:
        engine.dispose()
    store = SqlJobStore(database_url)
    try:
        created = T0 - 10  # legacy_job_row's created_at
        deadlines = {
            job_id: getattr(store.get(job_id), "deadline_at", "missing")
            for job_id in ("timed", "plain", "ended")
        }
        assert deadlines == {"timed": created + 90.5, "plain": created + 3600.0, "ended": None}
        assert [job.id for job in store.overdue(created + 100)] == ["timed"]
    finally:
        store.close()
