"""Tenants in the kernel: new jobs record their tenant (submit, submit_async, a batch), an
idempotency key is the tenant's (another tenant reusing it makes its own job and learns
nothing), and a program by reference or a ReplayJob of another tenant's job is NOT_FOUND
exactly as for a job that does not exist."""

from __future__ import annotations

import asyncio

import pytest

from eigen.errors import EigenError, FailedPrecondition, NotFound
from eigen.kernel.service import Kernel
from eigen.models.job import Job, JobRequest
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.state import JobState
from eigen.models.workload import REPLAY_OF, WorkloadKind
from tests.unit.kernel.conftest import job_request

PROGRAM = "OPENQASM 3.0; qubit[2] q; // tenant A's"
MISSING = "0" * 32  # an id no job has (ids are uuid4 hex)


def done(kernel: Kernel, request: JobRequest, tenant: str) -> Job:
    job, _ = kernel.submit(request, tenant=tenant)
    for _ in kernel.watch(job.id):
        pass
    ended = kernel.get(job.id)
    assert ended.state is JobState.DONE, ended.error_summary
    return ended


def refusal(error: EigenError, job_id: str) -> tuple[str, str, list[tuple[str, str]]]:
    """What a caller learns from the error, with the id it asked about written as <id>."""
    return (
        error.code,
        error.message.replace(job_id, "<id>"),
        [(v.field, v.description.replace(job_id, "<id>")) for v in error.violations],
    )


def test_new_jobs_record_their_tenant(kernel: Kernel) -> None:
    job, _ = kernel.submit(job_request(), tenant="acme")
    assert job.tenant == "acme" and kernel.get(job.id).tenant == "acme"
    plain, _ = kernel.submit(job_request())
    assert plain.tenant == DEFAULT_TENANT
    batch, _ = kernel.submit_batch([job_request(), job_request()], tenant="bolt")
    assert [kernel.get(j.id).tenant for j in batch] == ["bolt", "bolt"]
    queued, _ = asyncio.run(kernel.submit_async(job_request(), tenant="clay"))
    assert kernel.get(queued.id).tenant == "clay"


def test_another_tenant_reusing_a_key_gets_its_own_job_and_learns_nothing(kernel: Kernel) -> None:
    mine, _ = kernel.submit(job_request(PROGRAM), owner="ann", idempotency_key="k", tenant="acme")
    # same owner name, same key, another payload: no "key already used" from tenant A's job
    theirs, deduplicated = kernel.submit(
        job_request("OPENQASM 3.0; qubit[1] q;"), owner="ann", idempotency_key="k", tenant="bolt"
    )
    assert not deduplicated and theirs.id != mine.id and theirs.tenant == "bolt"
    again, deduplicated = kernel.submit(
        job_request("OPENQASM 3.0; qubit[1] q;"), owner="ann", idempotency_key="k", tenant="bolt"
    )
    assert deduplicated and again.id == theirs.id
    # within tenant A the key still means A's job
    with pytest.raises(FailedPrecondition):
        kernel.submit(
            job_request("OPENQASM 3.0; qubit[3] q;"), owner="ann", idempotency_key="k", tenant="acme"
        )
    same, deduplicated = kernel.submit(job_request(PROGRAM), owner="ann", idempotency_key="k", tenant="acme")
    assert deduplicated and same.id == mine.id


def test_a_program_uri_of_another_tenants_job_is_not_found_like_a_missing_one(kernel: Kernel) -> None:
    source = done(kernel, job_request(PROGRAM), "acme")
    with pytest.raises(NotFound) as missing:
        kernel.submit(job_request("", program_uri=f"qfs://{MISSING}"), tenant="bolt")
    for uri in (f"qfs://{source.id}", f"qfs://{source.id}/program.qasm"):
        with pytest.raises(NotFound) as hidden:
            kernel.submit(job_request("", program_uri=uri), tenant="bolt")
        assert refusal(hidden.value, source.id) == refusal(missing.value, MISSING)
        with pytest.raises(NotFound):
            kernel.validate(job_request("", program_uri=uri), tenant="bolt")
    assert kernel.store.count_unfinished("bolt") == 0
    # the job's own tenant reads it
    job, _ = kernel.submit(job_request("", program_uri=f"qfs://{source.id}"), tenant="acme")
    assert job.request.program == PROGRAM


def test_a_replay_of_another_tenants_job_is_not_found_like_a_missing_one(kernel: Kernel) -> None:
    original = done(kernel, job_request(PROGRAM, seed=7), "acme")

    def replay_of(job_id: str) -> JobRequest:
        return job_request(workload=WorkloadKind.REPLAY_JOB, options={REPLAY_OF: job_id})

    with pytest.raises(NotFound) as missing:
        kernel.submit(replay_of(MISSING), tenant="bolt")
    with pytest.raises(NotFound) as hidden:
        kernel.submit(replay_of(original.id), tenant="bolt")
    assert refusal(hidden.value, original.id) == refusal(missing.value, MISSING)
    assert hidden.value.violations[0].field == f"spec.metadata.{REPLAY_OF}"
    with pytest.raises(NotFound):
        asyncio.run(kernel.submit_async(replay_of(original.id), tenant="bolt"))
    with pytest.raises(NotFound):
        kernel.submit_batch([job_request(), replay_of(original.id)], tenant="bolt")
    assert kernel.store.count_unfinished("bolt") == 0
    replay = done(kernel, replay_of(original.id), "acme")
    assert replay.request.program == PROGRAM and replay.tenant == "acme"
