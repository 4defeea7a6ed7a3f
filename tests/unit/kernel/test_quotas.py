"""A tenant's quota at submission, on a started kernel over the memory store and a real
SQLite file: each limit refused with its name and value before anything is stored, other
tenants not refused, a batch refused whole, the event-loop path (submit_async) too."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from eigen.errors import EigenError, ResourceExhausted
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.sql import SqlJobStore, sqlite_url
from eigen.models.job import Job
from eigen.models.quota import Quota
from eigen.models.state import JobState
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.internal.v1 import kernel_pb2
from tests.unit.kernel.conftest import FakeCompiler, FakeDrivers, job_request


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    made: JobStore = (
        MemoryJobStore() if request.param == "memory" else SqlJobStore(sqlite_url(tmp_path / "j.db"))
    )
    yield made
    made.close()


@pytest.fixture
def held(drivers: FakeDrivers) -> Iterator[threading.Event]:
    """Jobs that reach the driver stay there (unfinished) until the gate is set."""
    gate = drivers.gate = threading.Event()
    yield gate
    gate.set()


@pytest.fixture
def kernel(tmp_path: Path, store: JobStore, compiler: FakeCompiler, drivers: FakeDrivers) -> Iterator[Kernel]:
    kernel = Kernel(store, ArtifactStore(tmp_path / "artifacts"), compiler, drivers, KernelSettings())
    kernel.start()
    yield kernel
    if drivers.gate is not None:
        drivers.gate.set()
    kernel.stop()


def refused(error: EigenError, limit: str, value: int) -> None:
    assert isinstance(error, ResourceExhausted)
    assert error.metadata == {"limit": limit, "value": str(value)}
    assert limit in error.message and str(value) in error.message
    assert "retry_after_s" not in error.metadata  # a quota frees up as jobs end, not in time


def stored(kernel: Kernel, tenant: str | None = None) -> int:
    return len(kernel.store.list_jobs(JobFilter(tenant=tenant, limit=1000)))


def test_shots_over_the_quota_are_refused_before_anything_is_stored(kernel: Kernel) -> None:
    quota = Quota(max_shots_per_job=500)
    with pytest.raises(ResourceExhausted) as over:
        kernel.submit(job_request(shots=501), tenant="acme", quota=quota)
    refused(over.value, "max_shots_per_job", 500)
    assert "501" in over.value.message
    # the effective shots: none given is the default (1024)
    with pytest.raises(ResourceExhausted):
        kernel.submit(job_request(shots=None), tenant="acme", quota=quota)
    assert stored(kernel) == 0
    job, _ = kernel.submit(job_request(shots=500), tenant="acme", quota=quota)
    assert job.tenant == "acme"


def test_qubits_over_the_quota_are_refused(kernel: Kernel) -> None:
    # FakeCompiler reads every program as 2 qubits
    with pytest.raises(ResourceExhausted) as over:
        kernel.submit(job_request(), tenant="acme", quota=Quota(max_qubits_per_job=1))
    refused(over.value, "max_qubits_per_job", 1)
    assert "2 qubits" in over.value.message
    with pytest.raises(ResourceExhausted):
        kernel.validate(job_request(), tenant="acme", quota=Quota(max_qubits_per_job=1))
    assert stored(kernel) == 0
    kernel.submit(job_request(), tenant="acme", quota=Quota(max_qubits_per_job=2))


def test_queued_jobs_over_the_quota_are_refused_and_other_tenants_are_not(
    kernel: Kernel, held: threading.Event
) -> None:
    quota = Quota(max_queued_jobs=2)
    first, _ = kernel.submit(job_request(), tenant="acme", quota=quota)
    kernel.submit(job_request(), tenant="acme", quota=quota)
    with pytest.raises(ResourceExhausted) as over:
        kernel.submit(job_request(), tenant="acme", quota=quota)
    refused(over.value, "max_queued_jobs", 2)
    assert "2 unfinished" in over.value.message
    with pytest.raises(ResourceExhausted):  # by another owner of the tenant too
        kernel.submit(job_request(), owner="bob", tenant="acme", quota=quota)
    assert stored(kernel, "acme") == 2
    bolt, _ = kernel.submit(job_request(), tenant="bolt", quota=quota)  # another tenant
    assert bolt.tenant == "bolt"
    kernel.submit(job_request(), tenant="acme")  # no quota given: none applies
    # a job that ends frees its place
    kernel.cancel(first.id)
    with pytest.raises(ResourceExhausted):  # still 2 unfinished (the unlimited one counts)
        kernel.submit(job_request(), tenant="acme", quota=quota)
    held.set()
    for job in kernel.store.list_jobs(JobFilter(tenant="acme")):
        for _ in kernel.watch(job.id):
            pass
    assert kernel.store.count_unfinished("acme") == 0
    kernel.submit(job_request(), tenant="acme", quota=quota)


def test_an_idempotent_retry_is_not_counted_again(kernel: Kernel, held: threading.Event) -> None:
    quota = Quota(max_queued_jobs=1)
    job, _ = kernel.submit(job_request(), idempotency_key="k", tenant="acme", quota=quota)
    again, deduplicated = kernel.submit(job_request(), idempotency_key="k", tenant="acme", quota=quota)
    assert deduplicated and again.id == job.id


def test_a_batch_is_refused_whole(kernel: Kernel, held: threading.Event) -> None:
    quota = Quota(max_queued_jobs=3, max_shots_per_job=100)
    kernel.submit(job_request(), tenant="acme", quota=quota)
    with pytest.raises(ResourceExhausted) as over:
        kernel.submit_batch([job_request(), job_request(), job_request()], tenant="acme", quota=quota)
    refused(over.value, "max_queued_jobs", 3)
    assert "batch of 3" in over.value.message
    with pytest.raises(ResourceExhausted) as shots:
        kernel.submit_batch([job_request(), job_request(shots=101)], tenant="acme", quota=quota)
    refused(shots.value, "max_shots_per_job", 100)
    assert shots.value.message.startswith("jobs[1]")
    assert stored(kernel, "acme") == 1
    jobs, _ = kernel.submit_batch([job_request(), job_request()], tenant="acme", quota=quota)
    assert [j.tenant for j in jobs] == ["acme", "acme"]
    assert stored(kernel, "acme") == 3


def test_submit_async_holds_the_quota_through_the_intake(kernel: Kernel, held: threading.Event) -> None:
    quota = Quota(max_queued_jobs=2, max_shots_per_job=200)

    async def submit(**fields: object) -> object:
        job, _ = await kernel.submit_async(job_request(**fields), tenant="acme", quota=quota)
        return job

    async def scenario() -> list[object]:
        with pytest.raises(ResourceExhausted) as shots:
            await submit(shots=201)
        refused(shots.value, "max_shots_per_job", 200)
        # submitted together, stored by the intake together: one of three is refused
        return await asyncio.gather(submit(), submit(), submit(), return_exceptions=True)

    outcomes = asyncio.run(scenario())
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ResourceExhausted)
    assert kernel.store.count_unfinished("acme") == 2


def test_concurrent_submissions_never_go_over_the_limit(kernel: Kernel, held: threading.Event) -> None:
    quota = Quota(max_queued_jobs=5)

    def submit(_: int) -> bool:
        try:
            kernel.submit(job_request(), tenant="acme", quota=quota)
        except ResourceExhausted:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        accepted = sum(pool.map(submit, range(24)))
    unfinished = kernel.store.count_unfinished("acme")
    assert accepted == unfinished and 1 <= unfinished <= 5
    assert all(j.state is not JobState.DONE for j in kernel.store.list_jobs(JobFilter(tenant="acme")))


def test_tenant_and_quota_cross_the_internal_wire() -> None:
    quota = Quota(max_queued_jobs=3, max_shots_per_job=None, max_qubits_per_job=5)
    message = kernel_pb2.EnqueueRequest(owner="ann", tenant="acme", **convert.quota_fields(quota))
    wired = kernel_pb2.EnqueueRequest.FromString(message.SerializeToString())
    assert convert.quota_from_pb(wired) == quota and convert.tenant_from_pb(wired) == "acme"
    assert convert.quota_from_pb(kernel_pb2.EnqueueRequest()) == Quota()
    assert convert.tenant_from_pb(kernel_pb2.EnqueueRequest()) == "default"
    batch = kernel_pb2.EnqueueBatchRequest(jobs=[convert.request_to_pb(job_request())], tenant="acme")
    assert len(jobs_pb2.SubmitBatchRequest.FromString(batch.SerializeToString()).jobs) == 1
    job = Job("j1", job_request(), JobState.PENDING, 1.0, 1.0, tenant="acme")
    assert convert.job_from_pb(convert.job_to_pb(job)).tenant == "acme"
