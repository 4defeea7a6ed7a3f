"""Issue 18: a SubmitBatch carries an idempotency key, stored with the tenant and the
owner as SubmitJob's is: the same key with the same jobs answers the jobs it stored first,
with other jobs (another payload, another number of jobs) it is FAILED_PRECONDITION.

On the in-memory store and on a real SQLite store (the unique index decides a race)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from eigen.errors import FailedPrecondition, InvalidArgument
from eigen.kernel.idempotency import batch_item_key
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.base import JobFilter
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore
from eigen.models.job import Job
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request


@pytest.fixture(params=["memory", "sqlite"])
def kernel(
    request: pytest.FixtureRequest, tmp_path: Path, compiler: FakeCompiler, drivers: FakeDrivers
) -> Iterator[Kernel]:
    store = (
        MemoryJobStore() if request.param == "memory" else SqlJobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    )
    kernel = Kernel(store, ArtifactStore(tmp_path / "artifacts"), compiler, drivers, KernelSettings())
    kernel.start()
    yield kernel
    kernel.stop()


def ids(jobs: list[Job]) -> list[str]:
    return [job.id for job in jobs]


def test_the_same_key_and_batch_answer_the_jobs_stored_first(kernel: Kernel) -> None:
    batch = [job_request(shots=10), job_request(shots=20), job_request(shots=30)]
    first, deduplicated = kernel.submit_batch(batch, idempotency_key="b-1", owner="me")
    assert not deduplicated and len(set(ids(first))) == 3
    again, deduplicated = kernel.submit_batch(list(batch), idempotency_key="b-1", owner="me")
    assert deduplicated and ids(again) == ids(first)  # same jobs, same order
    assert len(kernel.list_jobs(JobFilter())) == 3
    assert [kernel.get(j).request.shots for j in ids(again)] == [10, 20, 30]
    # each job holds a key of its own, which no caller's key can be (it has spaces)
    assert [kernel.get(j).idempotency_key for j in ids(first)] == [batch_item_key("b-1", i) for i in range(3)]


def test_the_same_key_with_another_batch_is_refused(kernel: Kernel) -> None:
    batch = [job_request(shots=10), job_request(shots=20)]
    first, _ = kernel.submit_batch(batch, idempotency_key="b-2", owner="me")
    for other in (
        [job_request(shots=10), job_request(shots=21)],  # another payload
        [job_request(shots=20), job_request(shots=10)],  # the same jobs, another order
        [job_request(shots=10)],  # fewer jobs
        [*batch, job_request(shots=30)],  # more jobs
    ):
        with pytest.raises(FailedPrecondition, match="different batch") as refused:
            kernel.submit_batch(other, idempotency_key="b-2", owner="me")
        assert first[0].id in refused.value.message
    again, deduplicated = kernel.submit_batch(batch, idempotency_key="b-2", owner="me")
    assert deduplicated and ids(again) == ids(first)


def test_a_batch_key_is_the_tenants_and_the_owners_and_not_a_jobs(kernel: Kernel) -> None:
    batch = [job_request(), job_request(shots=5)]
    mine, _ = kernel.submit_batch(batch, idempotency_key="k", owner="me", tenant="acme")
    others = [
        kernel.submit_batch(batch, idempotency_key="k", owner="you", tenant="acme"),
        kernel.submit_batch(batch, idempotency_key="k", owner="me", tenant="bolt"),
    ]
    assert all(not deduplicated and not set(ids(jobs)) & set(ids(mine)) for jobs, deduplicated in others)
    job, deduplicated = kernel.submit(job_request(), idempotency_key="k", owner="me", tenant="acme")
    assert not deduplicated and job.id not in ids(mine)  # SubmitJob's keys are another space
    unkeyed, deduplicated = kernel.submit_batch(batch, owner="me", tenant="acme")
    assert not deduplicated and not set(ids(unkeyed)) & set(ids(mine))


def test_a_refused_batch_leaves_its_key_unused(kernel: Kernel) -> None:
    with pytest.raises(InvalidArgument, match=r"jobs\[1\]"):
        kernel.submit_batch([job_request(), job_request("bad program")], idempotency_key="b-3")
    jobs, deduplicated = kernel.submit_batch([job_request(), job_request()], idempotency_key="b-3")
    assert not deduplicated and len(jobs) == 2


def test_racing_batches_with_one_key_store_one_batch(kernel: Kernel) -> None:
    batch = [job_request(shots=s) for s in range(1, 9)]
    answers: list[tuple[list[Job], bool]] = []
    start = threading.Barrier(4)

    def submit() -> None:
        start.wait()
        answers.append(kernel.submit_batch(batch, idempotency_key="race", owner="me"))

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 4
    assert len(kernel.list_jobs(JobFilter())) == len(batch)
    assert len({tuple(ids(jobs)) for jobs, _ in answers}) == 1
    assert sorted(deduplicated for _, deduplicated in answers) == [False, True, True, True]
