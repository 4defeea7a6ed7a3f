"""The job store contract, run against the memory store and a real SQLite file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.errors import AlreadyExists
from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job, JobEvent
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState
from tests.unit.kernel.conftest import job_request


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    made: JobStore = (
        MemoryJobStore() if request.param == "memory" else SqlJobStore(sqlite_url(tmp_path / "j.db"))
    )
    yield made
    made.close()


def new_job(
    store: JobStore, job_id: str, created: float, key: str | None = None, **request_fields: object
) -> Job:
    job = Job(
        id=job_id,
        request=job_request(**request_fields),
        state=JobState.PENDING,
        created_at=created,
        updated_at=created,
        idempotency_key=key,
    )
    store.create(job, JobEvent(job_id, 1, JobState.PENDING, "state", created))
    return job


def event(job_id: str, seq: int, state: JobState, kind: str = "state") -> JobEvent:
    return JobEvent(job_id, seq, state, kind, time.time(), data={"n": seq})


def test_create_get_round_trip(store: JobStore) -> None:
    job = new_job(store, "a1", 10.0, labels={"team": "x"})
    found = store.get("a1")
    assert found is not None
    assert found.request == job.request and found.state is JobState.PENDING and found.last_seq == 1
    assert store.get("missing") is None


def test_transition_is_compare_and_set(store: JobStore) -> None:
    new_job(store, "a1", 10.0)
    assert store.transition("a1", JobState.PENDING, event("a1", 2, JobState.COMPILING), {})
    assert not store.transition("a1", JobState.PENDING, event("a1", 3, JobState.CANCELLED), {})
    assert not store.transition("a1", JobState.COMPILING, event("a1", 9, JobState.QUEUED), {})
    assert store.transition(
        "a1",
        JobState.COMPILING,
        event("a1", 3, JobState.ERROR),
        {"error_code": "E", "error_summary": "s"},
    )
    job = store.get("a1")
    assert job is not None and job.state is JobState.ERROR and job.error_code == "E" and job.last_seq == 3
    assert [e.seq for e in store.events("a1")] == [1, 2, 3]
    assert [e.seq for e in store.events("a1", after_seq=2)] == [3]
    assert store.events("a1")[1].data == {"n": 2}


def test_progress_events_stop_at_terminal(store: JobStore) -> None:
    new_job(store, "a1", 10.0)
    assert store.append_event(event("a1", 2, JobState.PENDING, "progress"), progress={"iteration": 1})
    job = store.get("a1")
    assert job is not None and job.progress == {"iteration": 1}
    store.transition("a1", JobState.PENDING, event("a1", 3, JobState.CANCELLED), {})
    assert not store.append_event(event("a1", 4, JobState.CANCELLED, "progress"))


def test_idempotency_key_is_unique_per_owner(store: JobStore) -> None:
    new_job(store, "a1", 10.0, key="k")
    found = store.find_by_idempotency_key("anonymous", "k")
    assert found is not None and found.id == "a1"
    with pytest.raises(AlreadyExists):
        new_job(store, "a2", 11.0, key="k")
    assert store.find_by_idempotency_key("other", "k") is None


def test_list_filters_and_keyset_pages(store: JobStore) -> None:
    for index in range(5):
        new_job(
            store,
            f"j{index}",
            100.0 + index,
            labels={"parity": "even" if index % 2 == 0 else "odd"},
        )
    newest = store.list_jobs(JobFilter(limit=2))
    assert [j.id for j in newest] == ["j4", "j3"]
    after = store.list_jobs(JobFilter(limit=2, before=(newest[-1].created_at, newest[-1].id)))
    assert [j.id for j in after] == ["j2", "j1"]
    assert [j.id for j in store.list_jobs(JobFilter(labels={"parity": "odd"}))] == ["j3", "j1"]
    assert [j.id for j in store.list_jobs(JobFilter(created_after=102.0, created_before=104.0))] == [
        "j3",
        "j2",
    ]
    store.transition("j0", JobState.PENDING, event("j0", 2, JobState.CANCELLED), {})
    assert [j.id for j in store.list_jobs(JobFilter(states=(JobState.CANCELLED,)))] == ["j0"]
    assert {j.id for j in store.in_states((JobState.PENDING,))} == {"j1", "j2", "j3", "j4"}


def test_results_and_checkpoints(store: JobStore) -> None:
    new_job(store, "a1", 10.0)
    result = JobResult(
        job_id="a1", backend="b", experiments=[Experiment({"01": 3}, 3)], seed=5, summary={"e": 1.5}
    )
    store.save_result("a1", result)
    assert store.result("a1") == result
    assert store.result("missing") is None
    store.save_checkpoint("a1", {"iteration": 1})
    store.save_checkpoint("a1", {"iteration": 2})
    assert store.checkpoint("a1") == {"iteration": 2}


def test_sqlite_store_survives_reopening(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "j.db")
    first = SqlJobStore(url)
    new_job(first, "a1", 10.0)
    first.close()
    second = SqlJobStore(url)
    assert second.get("a1") is not None
    assert second.in_states((JobState.PENDING,))[0].id == "a1"
    second.close()
