"""Contract tests of the public gRPC API against a real embedded server."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, details, job, submit, wait

pytestmark = pytest.mark.integration


def test_bell_job_end_to_end(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    accepted = submit(jobs, job())
    assert accepted.state == pb.JOB_STATE_PENDING and accepted.id
    events = wait(jobs, accepted.id)
    assert [e.state for e in events if e.kind == "state"] == [
        pb.JOB_STATE_PENDING,
        pb.JOB_STATE_COMPILING,
        pb.JOB_STATE_QUEUED,
        pb.JOB_STATE_RUNNING,
        pb.JOB_STATE_DONE,
    ]
    assert [e.event_seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].terminal
    results = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
    counts = dict(results.experiments[0].counts)
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 1000
    assert results.seed == 11 and results.backend == "sim:statevector"
    assert results.compile_report.fields["after"].struct_value.fields["depth"].number_value > 0
    fetched = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id))
    assert fetched.state == pb.JOB_STATE_DONE and "execute_s" in fetched.timings


def test_same_seed_same_counts(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    counts = []
    for _ in range(2):
        accepted = submit(jobs, job(seed=1234))
        wait(jobs, accepted.id)
        result = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
        counts.append(dict(result.experiments[0].counts))
    assert counts[0] == counts[1]


def test_request_id_is_echoed_or_generated(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    _, call = jobs.ListJobs.with_call(jobs_pb2.ListJobsRequest(), metadata=(("x-request-id", "abc-123"),))
    assert dict(call.initial_metadata())["x-request-id"] == "abc-123"
    _, call = jobs.ListJobs.with_call(jobs_pb2.ListJobsRequest())
    assert len(dict(call.initial_metadata())["x-request-id"]) >= 8


def test_idempotency_key(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    first = jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(), idempotency_key="idem-1"))
    again = jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(), idempotency_key="idem-1"))
    assert again.job.id == first.job.id and again.deduplicated and not first.deduplicated
    with pytest.raises(grpc.RpcError) as caught:
        jobs.SubmitJob(jobs_pb2.SubmitJobRequest(job=job(shots=7), idempotency_key="idem-1"))
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert details(caught.value)[0] == "EIGEN_FAILED_PRECONDITION"


@pytest.mark.parametrize(
    ("request_job", "code", "field"),
    [
        (job(""), grpc.StatusCode.INVALID_ARGUMENT, "job.program.source"),
        (job("   \n"), grpc.StatusCode.INVALID_ARGUMENT, "job.program.source"),
        (job("this is not a circuit at all"), grpc.StatusCode.INVALID_ARGUMENT, "program"),
        (
            job("OPENQASM 3.0;\x00\x01\x02\xff"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "job.program.source",
        ),
        (job(BELL, shots=0), grpc.StatusCode.INVALID_ARGUMENT, "shots"),
        (job(BELL, shots=10_000_001), grpc.StatusCode.INVALID_ARGUMENT, "job.shots"),
        (job(BELL, priority=101), grpc.StatusCode.INVALID_ARGUMENT, "job.priority"),
        (job(BELL, name="has space"), grpc.StatusCode.INVALID_ARGUMENT, "job.name"),
        (job("OPENQASM 3.0; qubit[40] q; h q[39];"), grpc.StatusCode.INVALID_ARGUMENT, "program"),
        (job(BELL, target="sim:nowhere"), grpc.StatusCode.NOT_FOUND, ""),
    ],
    ids=[
        "empty",
        "blank",
        "garbage",
        "binary",
        "zero-shots",
        "too-many-shots",
        "priority",
        "name",
        "too-many-qubits",
        "unknown-backend",
    ],
)
def test_bad_input_gets_a_precise_error(
    jobs: jobs_pb2_grpc.JobServiceStub,
    request_job: pb.JobRequest,
    code: grpc.StatusCode,
    field: str,
) -> None:
    before = len(jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs)
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, request_job)
    assert caught.value.code() is code
    reason, fields = details(caught.value)
    assert reason.startswith("EIGEN_")
    if field:
        assert field in fields, fields
    assert len(jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs) == before  # nothing created


def test_unknown_job_is_not_found(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    for call in (
        lambda: jobs.GetJob(jobs_pb2.GetJobRequest(job_id="doesnotexist")),
        lambda: jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id="doesnotexist")),
        lambda: jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id="doesnotexist")),
        lambda: list(jobs.WatchJob(jobs_pb2.WatchJobRequest(job_id="doesnotexist"))),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND
        assert details(caught.value)[0] == "EIGEN_NOT_FOUND"
    with pytest.raises(grpc.RpcError) as caught:
        jobs.GetJob(jobs_pb2.GetJobRequest(job_id="../etc/passwd"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_results_before_terminal_and_cancel_is_final(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    with holding(server) as held:
        accepted = submit(jobs, job(BELL, target=HELD, shots=10))
        held.wait_held()
        with pytest.raises(grpc.RpcError) as caught:
            jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        cancelled = jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=accepted.id))
        assert cancelled.state == pb.JOB_STATE_CANCELLED
        events = wait(jobs, accepted.id)
        assert events[-1].state == pb.JOB_STATE_CANCELLED and events[-1].terminal
    # the run went on and returned its result meanwhile: the job must not change
    after = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id))
    assert after.state == pb.JOB_STATE_CANCELLED and after.last_event_seq == events[-1].event_seq
    again = jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=accepted.id))
    assert again.state == pb.JOB_STATE_CANCELLED


def test_results_with_a_wait_come_once_the_job_ends(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    accepted = submit(jobs, job(seed=7))
    results = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id, wait_seconds=60))
    assert sum(results.experiments[0].counts.values()) == 1000  # one call after SubmitJob
    assert jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)).state == pb.JOB_STATE_DONE
    with holding(server) as held:
        running = submit(jobs, job(BELL, target=HELD, shots=10))
        held.wait_held()
        with pytest.raises(grpc.RpcError) as caught:  # the wait runs out: as without one
            jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=running.id, wait_seconds=0.2))
        assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert "RUNNING" in (caught.value.details() or "")
        held.release()
        waited = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=running.id, wait_seconds=60))
        assert waited.job_id == running.id
    for bad in (-1.0, 3601.0, float("nan")):
        with pytest.raises(grpc.RpcError) as caught:
            jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id, wait_seconds=bad))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", ["wait_seconds"])
    with pytest.raises(grpc.RpcError) as caught:
        jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id="doesnotexist", wait_seconds=5))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_list_jobs_filters_and_pages(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    ids = []
    for index in range(3):
        accepted = submit(jobs, job(labels={"suite": "listing", "n": str(index)}))
        wait(jobs, accepted.id)
        ids.append(accepted.id)
    page = jobs.ListJobs(jobs_pb2.ListJobsRequest(labels={"suite": "listing"}, page_size=2))
    assert [j.id for j in page.jobs] == ids[::-1][:2] and page.next_page_token
    rest = jobs.ListJobs(
        jobs_pb2.ListJobsRequest(labels={"suite": "listing"}, page_size=2, page_token=page.next_page_token)
    )
    assert [j.id for j in rest.jobs] == [ids[0]] and not rest.next_page_token
    done = jobs.ListJobs(jobs_pb2.ListJobsRequest(states=[pb.JOB_STATE_DONE], page_size=500))
    assert set(ids) <= {j.id for j in done.jobs}
    with pytest.raises(grpc.RpcError) as caught:
        jobs.ListJobs(jobs_pb2.ListJobsRequest(page_token="garbage"))
    assert details(caught.value)[1] == ["page_token"]


def test_backends(backends: jobs_pb2_grpc.BackendServiceStub) -> None:
    listed = {b.name: b for b in backends.ListBackends(jobs_pb2.ListBackendsRequest()).backends}
    assert {"sim:statevector", "sim:stabilizer", "emu:manila"} <= set(listed)
    manila = backends.GetBackend(jobs_pb2.GetBackendRequest(name="emu:manila"))
    assert manila.num_qubits == 5 and manila.coupling_map and manila.noisy and manila.calibration_id
    calibration = backends.GetCalibration(jobs_pb2.GetCalibrationRequest(name="emu:manila"))
    assert len(calibration.qubits.values) == 5
    alias = backends.GetBackend(jobs_pb2.GetBackendRequest(name="sim:local"))
    assert alias.name == "sim:statevector"
    with pytest.raises(grpc.RpcError) as caught:
        backends.GetBackend(jobs_pb2.GetBackendRequest(name="qpu:missing"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


def test_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "eigen.api.v1.JobService", "eigen.api.v1.BackendService"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service)).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as caught:  # in process only on an all-in-one server
        health.Check(health_pb2.HealthCheckRequest(service="eigen.internal.v1.KernelService"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(
        iter(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    )
    names = {s.name for s in answer.list_services_response.service}
    assert {"eigen.api.v1.JobService", "eigen.api.v1.BackendService"} <= names
