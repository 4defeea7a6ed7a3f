"""The job store contract. Subclasses supply a ``store`` fixture: memory and SQLite in
tests/unit/store/test_contract.py, PostgreSQL in tests/integration/test_store_postgres.py."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from eigen.errors import AlreadyExists, FailedPrecondition, NotFound
from eigen.kernel.store.base import JobFilter, JobStore, Transition
from eigen.kernel.store.retention import expire_old_results, load_result
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState


def job_request(**fields: Any) -> JobRequest:
    base: dict[str, Any] = {
        "name": "t",
        "program": "OPENQASM 3.0; qubit[2] q;",
        "language": ProgramLanguage.QASM3,
        "target": "sim:test",
        "shots": 100,
    }
    return JobRequest(**{**base, **fields})


def new_job(
    store: JobStore,
    job_id: str,
    created: float,
    key: str | None = None,
    owner: str = "anonymous",
    **request_fields: Any,
) -> Job:
    job = Job(
        id=job_id,
        request=job_request(**request_fields),
        state=JobState.PENDING,
        created_at=created,
        updated_at=created,
        owner=owner,
        idempotency_key=key,
    )
    store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", created))
    return job


def event(job_id: str, seq: int, state: JobState, kind: str = "state") -> JobEvent:
    return JobEvent(job_id, seq, state, kind, time.time(), data={"n": seq})


def a_result(job_id: str, counts: dict[str, int] | None = None) -> JobResult:
    counts = counts or {"01": 3}
    return JobResult(
        job_id=job_id,
        backend="b",
        experiments=[Experiment(counts, sum(counts.values()))],
        seed=5,
        summary={"e": 1.5},
    )


def pause() -> float:
    """A moment strictly between two saves (clocks tick in microseconds or finer)."""
    time.sleep(0.02)
    moment = time.time()
    time.sleep(0.02)
    return moment


class StoreContract:
    """What every JobStore does. Not collected itself (no ``Test`` prefix)."""

    def test_create_get_round_trip(self, store: JobStore) -> None:
        job = new_job(store, "a1", 1_700_000_000.123456, labels={"team": "x"}, options={"z": "1", "a": "2"})
        found = store.get("a1")
        assert found is not None
        assert found.request == job.request and found.state is JobState.PENDING and found.last_seq == 1
        # float epoch timestamps come back bit for bit (keyset cursors compare them)
        assert found.created_at == 1_700_000_000.123456 and found.updated_at == job.updated_at
        assert list(found.request.options) == ["z", "a"]
        assert store.get("missing") is None

    def test_create_many_stores_all_or_none(self, store: JobStore) -> None:
        def pending(job_id: str, key: str | None = None) -> tuple[Job, JobEvent]:
            job = Job(
                id=job_id,
                request=job_request(),
                state=JobState.PENDING,
                created_at=5.0,
                updated_at=5.0,
                idempotency_key=key,
            )
            return job, JobEvent(job_id, 1, JobState.PENDING, "state", 5.0, "submitted")

        store.create_many([pending("m1"), pending("m2", key="k"), pending("m3")])
        assert [store.get(j).state for j in ("m1", "m2", "m3")] == [JobState.PENDING] * 3  # type: ignore[union-attr]
        assert [e.seq for e in store.events("m3")] == [1]
        with pytest.raises(AlreadyExists):  # m1 exists: m4 is not stored either
            store.create_many([pending("m4"), pending("m1")])
        with pytest.raises(AlreadyExists):  # the key is taken
            store.create_many([pending("m5"), pending("m6", key="k")])
        assert store.get("m4") is None and store.get("m5") is None and store.get("m6") is None
        store.create_many([])

    def test_transition_is_compare_and_set(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        assert store.transition("a1", JobState.PENDING, event("a1", 2, JobState.COMPILING), {})
        assert not store.transition("a1", JobState.PENDING, event("a1", 3, JobState.CANCELLED), {})
        assert not store.transition("a1", JobState.COMPILING, event("a1", 9, JobState.QUEUED), {})
        assert store.transition(
            "a1",
            JobState.COMPILING,
            event("a1", 3, JobState.ERROR),
            {"error_code": "E", "error_summary": "s", "finished_at": 12.5},
        )
        job = store.get("a1")
        assert job is not None and job.state is JobState.ERROR and job.error_code == "E"
        assert job.last_seq == 3 and job.finished_at == 12.5
        assert [e.seq for e in store.events("a1")] == [1, 2, 3]
        assert [e.seq for e in store.events("a1", after_seq=2)] == [3]
        assert store.events("a1")[1].data == {"n": 2}
        assert not store.transition("missing", JobState.PENDING, event("missing", 2, JobState.QUEUED), {})

    def test_racing_transitions_have_one_winner(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        targets = [JobState.CANCELLED, JobState.TIMEOUT, JobState.ERROR, JobState.COMPILING] * 2
        won: list[JobState] = []
        start = threading.Barrier(len(targets))

        def attempt(target: JobState) -> None:
            start.wait()
            if store.transition("a1", JobState.PENDING, event("a1", 2, target), {}):
                won.append(target)

        threads = [threading.Thread(target=attempt, args=(t,)) for t in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(won) == 1
        job = store.get("a1")
        assert job is not None and job.state is won[0] and job.last_seq == 2
        assert [(e.seq, e.state) for e in store.events("a1")] == [(1, JobState.PENDING), (2, won[0])]

    def test_progress_events_stop_at_terminal(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        assert store.append_event(event("a1", 2, JobState.PENDING, "progress"), progress={"iteration": 1})
        assert not store.append_event(event("a1", 5, JobState.PENDING, "progress"))
        job = store.get("a1")
        assert job is not None and job.progress == {"iteration": 1} and job.last_seq == 2
        store.transition("a1", JobState.PENDING, event("a1", 3, JobState.CANCELLED), {})
        assert not store.append_event(event("a1", 4, JobState.CANCELLED, "progress"))
        assert [e.seq for e in store.events("a1")] == [1, 2, 3]

    def test_idempotency_key_is_unique_per_owner(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0, key="k")
        found = store.find_by_idempotency_key("default", "anonymous", "k")
        assert found is not None and found.id == "a1"
        with pytest.raises(AlreadyExists):
            new_job(store, "a2", 11.0, key="k")
        assert store.get("a2") is None and store.events("a2") == []
        new_job(store, "b1", 12.0, key="k", owner="other")
        other = store.find_by_idempotency_key("default", "other", "k")
        assert other is not None and other.id == "b1"
        assert store.find_by_idempotency_key("default", "anonymous", "nope") is None

    def test_jobs_without_a_key_never_collide(self, store: JobStore) -> None:
        for index in range(3):
            new_job(store, f"n{index}", 10.0 + index)
        assert {j.id for j in store.in_states((JobState.PENDING,))} == {"n0", "n1", "n2"}
        with pytest.raises(AlreadyExists):
            new_job(store, "n0", 20.0)

    def test_list_filters_and_keyset_pages(self, store: JobStore) -> None:
        for index in range(5):
            new_job(
                store,
                f"j{index}",
                100.0 + index,
                labels={"parity": "even" if index % 2 == 0 else "odd", "low": str(index < 2).lower()},
                target="sim:a" if index < 3 else "sim:b",
            )
        newest = store.list_jobs(JobFilter(limit=2))
        assert [j.id for j in newest] == ["j4", "j3"]
        after = store.list_jobs(JobFilter(limit=2, before=(newest[-1].created_at, newest[-1].id)))
        assert [j.id for j in after] == ["j2", "j1"]
        assert [j.id for j in store.list_jobs(JobFilter(labels={"parity": "odd"}))] == ["j3", "j1"]
        both = JobFilter(labels={"parity": "odd", "low": "true"})
        assert [j.id for j in store.list_jobs(both)] == ["j1"]
        assert store.list_jobs(JobFilter(labels={"absent": "x"})) == []
        assert [j.id for j in store.list_jobs(JobFilter(target="sim:b"))] == ["j4", "j3"]
        assert [j.id for j in store.list_jobs(JobFilter(created_after=102.0, created_before=104.0))] == [
            "j3",
            "j2",
        ]
        store.transition("j0", JobState.PENDING, event("j0", 2, JobState.CANCELLED), {})
        assert [j.id for j in store.list_jobs(JobFilter(states=(JobState.CANCELLED,)))] == ["j0"]
        assert [j.id for j in store.in_states((JobState.PENDING,))] == ["j1", "j2", "j3", "j4"]

    def test_keyset_pages_break_ties_on_id(self, store: JobStore) -> None:
        for job_id in ("t1", "t3", "t2"):
            new_job(store, job_id, 1_700_000_000.5)
        first = store.list_jobs(JobFilter(limit=2))
        assert [j.id for j in first] == ["t3", "t2"]
        rest = store.list_jobs(JobFilter(limit=2, before=(first[-1].created_at, first[-1].id)))
        assert [j.id for j in rest] == ["t1"]

    def test_results_and_checkpoints(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        result = a_result("a1", {"11": 5, "00": 4, "10": 1})
        store.save_result("a1", result)
        stored = store.result("a1")
        assert stored == result
        assert stored is not None and list(stored.experiments[0].counts) == ["11", "00", "10"]
        store.save_result("a1", a_result("a1", {"00": 1}))
        again = store.result("a1")
        assert again is not None and again.experiments[0].counts == {"00": 1}
        assert store.result("missing") is None
        assert store.checkpoint("a1") is None
        store.save_checkpoint("a1", {"iteration": 1})
        store.save_checkpoint("a1", {"iteration": 2, "params": [0.5, 1.25]})
        assert store.checkpoint("a1") == {"iteration": 2, "params": [0.5, 1.25]}

    def test_a_transition_saves_its_result_with_it(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        assert store.transition("a1", JobState.PENDING, event("a1", 2, JobState.CANCELLED), {})
        refused = event("a1", 3, JobState.DONE)
        assert not store.transition("a1", JobState.PENDING, refused, {}, a_result("a1"))
        assert store.result("a1") is None  # a refused move saves nothing

        new_job(store, "a2", 10.0)
        store.save_result("a2", a_result("a2", {"0": 1}))
        assert store.expire_results(pause()) == 1
        assert store.transition("a2", JobState.PENDING, event("a2", 2, JobState.DONE), {}, a_result("a2"))
        assert store.result("a2") == a_result("a2")
        job = store.get("a2")
        assert job is not None and job.state is JobState.DONE and job.result_expired_at is None

    def test_transitions_apply_each_compare_and_set_on_its_own(self, store: JobStore) -> None:
        for job_id in ("b1", "b2", "b3"):
            new_job(store, job_id, 10.0)
        store.transition("b2", JobState.PENDING, event("b2", 2, JobState.CANCELLED), {})
        applied = store.transitions(
            [
                Transition(
                    "b1", JobState.PENDING, event("b1", 2, JobState.DONE), {"attempt": 1}, a_result("b1")
                ),
                Transition("b2", JobState.PENDING, event("b2", 2, JobState.DONE), {}, a_result("b2")),
                Transition("b3", JobState.PENDING, event("b3", 2, JobState.COMPILING)),
                Transition("missing", JobState.PENDING, event("missing", 2, JobState.COMPILING)),
            ]
        )
        assert applied == [True, False, True, False]
        b1, b2, b3 = (store.get(job_id) for job_id in ("b1", "b2", "b3"))
        assert b1 is not None and b1.state is JobState.DONE and b1.attempt == 1 and b1.last_seq == 2
        assert store.result("b1") == a_result("b1")
        assert b2 is not None and b2.state is JobState.CANCELLED and store.result("b2") is None
        assert b3 is not None and b3.state is JobState.COMPILING
        assert [(e.seq, e.state) for e in store.events("b3")] == [
            (1, JobState.PENDING),
            (2, JobState.COMPILING),
        ]
        assert [e.seq for e in store.events("b2")] == [1, 2]  # the refused move added no event
        assert store.transitions([]) == []

    def test_expired_results_are_gone_but_jobs_stay(self, store: JobStore) -> None:
        for job_id in ("old1", "old2", "new"):
            new_job(store, job_id, 10.0)
        store.save_result("old1", a_result("old1"))
        store.save_result("old2", a_result("old2"))
        cutoff = pause()
        store.save_result("new", a_result("new"))
        before_expiry = time.time()

        assert store.expire_results(cutoff) == 2
        assert store.result("old1") is None and store.result("old2") is None
        assert store.result("new") == a_result("new")
        expired_at = store.result_expired_at("old1")
        assert expired_at is not None and before_expiry <= expired_at <= time.time()
        assert store.result_expired_at("new") is None and store.result_expired_at("missing") is None
        job = store.get("old1")
        assert job is not None and [e.seq for e in store.events("old1")] == [1]
        assert job.result_expired_at == expired_at  # the job record says so too
        assert {j.id: j.result_expired_at is not None for j in store.list_jobs(JobFilter())} == {
            "old1": True,
            "old2": True,
            "new": False,
        }
        assert store.expire_results(cutoff) == 0

    def test_saving_again_clears_the_expiry(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        store.save_result("a1", a_result("a1"))
        assert store.expire_results(pause()) == 1
        store.save_result("a1", a_result("a1", {"1": 1}))
        assert store.result_expired_at("a1") is None
        job = store.get("a1")
        assert job is not None and job.result_expired_at is None
        assert load_result(store, "a1").experiments[0].counts == {"1": 1}

    def test_reading_an_expired_result_is_a_failed_precondition(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        new_job(store, "a2", 10.0)
        store.save_result("a1", a_result("a1"))
        assert load_result(store, "a1") == a_result("a1")
        # a retention of 1 day, seen from 2 days later
        assert expire_old_results(store, 1.0, now=time.time() + 2 * 86_400) == 1
        with pytest.raises(FailedPrecondition, match="results expired"):
            load_result(store, "a1")
        with pytest.raises(NotFound):
            load_result(store, "a2")

    def test_retention_off_or_young_results_expire_nothing(self, store: JobStore) -> None:
        new_job(store, "a1", 10.0)
        store.save_result("a1", a_result("a1"))
        assert expire_old_results(store, None, now=time.time() + 10**9) == 0
        assert expire_old_results(store, 0, now=time.time() + 10**9) == 0
        assert expire_old_results(store, 1.0) == 0
        assert store.result("a1") is not None
