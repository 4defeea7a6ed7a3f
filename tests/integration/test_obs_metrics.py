"""Metrics move as jobs run through a real embedded server (gRPC, SQLite, simulators)."""

from __future__ import annotations

import time

import grpc
import pytest

from eigen.observability import metrics
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, SLOW, job, submit, wait

pytestmark = pytest.mark.integration
SIM = {"backend": "sim:statevector"}


def api(method: str, code: str = "OK", service: str = "JobService") -> dict[str, str]:
    return {"service": service, "method": method, "code": code}


def value(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.value(name, labels)


def test_a_job_moves_the_job_stage_and_api_metrics(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    names = ("eigen_jobs_submitted_total", "eigen_jobs_completed_total", "eigen_job_execution_seconds_count")
    before = {name: value(name, SIM) for name in names}
    stages = {s: value("eigen_job_stage_seconds_count", {"stage": s}) for s in metrics.STAGES}
    submits = value("eigen_api_requests_total", api("SubmitJob"))
    durations = value("eigen_api_request_duration_seconds_count", api("SubmitJob"))
    done = value("eigen_job_state_transitions_total", {"from_state": "RUNNING", "to_state": "DONE"})

    created = submit(jobs, job())
    assert wait(jobs, created.id)[-1].state == pb.JOB_STATE_DONE

    assert value("eigen_jobs_submitted_total", SIM) == before["eigen_jobs_submitted_total"] + 1
    assert value("eigen_jobs_completed_total", SIM) == before["eigen_jobs_completed_total"] + 1
    assert value("eigen_job_execution_seconds_count", SIM) == before["eigen_job_execution_seconds_count"] + 1
    assert value("eigen_job_execution_seconds_sum", SIM) > 0
    for stage in metrics.STAGES:
        assert value("eigen_job_stage_seconds_count", {"stage": stage}) == stages[stage] + 1
    assert value("eigen_api_requests_total", api("SubmitJob")) == submits + 1
    assert value("eigen_api_request_duration_seconds_count", api("SubmitJob")) == durations + 1
    assert value("eigen_api_requests_total", api("WatchJob")) >= 1
    assert (
        value("eigen_job_state_transitions_total", {"from_state": "RUNNING", "to_state": "DONE"}) == done + 1
    )


def test_a_cancel_moves_the_cancel_counter(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    device = {"backend": HELD}
    cancelled = value("eigen_jobs_cancelled_total", device)
    completed = value("eigen_jobs_completed_total", device)
    with holding(server) as held:
        created = submit(jobs, job(BELL, target=HELD, shots=10))
        held.wait_held()
        jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=created.id))
        assert wait(jobs, created.id)[-1].state == pb.JOB_STATE_CANCELLED
        assert value("eigen_jobs_cancelled_total", device) == cancelled + 1
        assert value("eigen_api_requests_total", api("CancelJob")) >= 1
    # the held run returned its result after the cancel: it is not counted as completed
    assert value("eigen_jobs_completed_total", device) == completed


def test_a_timeout_moves_the_failed_counter(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    labels = {**SIM, "code": "EIGEN_DEADLINE_EXCEEDED"}
    failed = value("eigen_jobs_failed_total", labels)
    created = submit(jobs, job(SLOW, shots=10, timeout_seconds=0.05))
    assert wait(jobs, created.id)[-1].state == pb.JOB_STATE_TIMEOUT
    assert value("eigen_jobs_failed_total", labels) == failed + 1


def test_errors_are_counted_by_code(server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    labels = api("GetJob", "NOT_FOUND")
    before = value("eigen_api_requests_total", labels)
    with pytest.raises(grpc.RpcError) as caught:
        jobs.GetJob(jobs_pb2.GetJobRequest(job_id="no-such-job"))
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    # The server records an RPC once its status is out, so the client may see it first.
    deadline = time.monotonic() + 5
    while value("eigen_api_requests_total", labels) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert value("eigen_api_requests_total", labels) == before + 1
    assert value("eigen_api_requests_in_flight", {"service": "JobService", "method": "GetJob"}) == 0


def test_queue_and_backend_gauges(server: EmbeddedServer, backends: jobs_pb2_grpc.BackendServiceStub) -> None:
    assert value("eigen_queue_capacity") >= server.settings.queue_capacity
    assert value("eigen_queue_size") >= 0
    names = [b.name for b in backends.ListBackends(jobs_pb2.ListBackendsRequest()).backends]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
        value("eigen_backend_available", {"backend": n}) == 1.0 for n in names
    ):
        time.sleep(0.05)
    assert {n: value("eigen_backend_available", {"backend": n}) for n in names} == dict.fromkeys(names, 1.0)
    assert value("eigen_api_requests_total", api("ListBackends", service="BackendService")) >= 1
    text = metrics.render().decode()
    assert 'eigen_backend_available{backend="sim:statevector"} 1.0' in text
