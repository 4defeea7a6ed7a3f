"""Job dependencies through a real server's gRPC API: a diamond of jobs runs in order, a
waiting job shows what it waits for, a failed root fails its dependants (recursively, naming
it), and an unknown dependency is refused at submit."""

from __future__ import annotations

import json

import grpc
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import details, job, submit, wait

pytestmark = pytest.mark.integration

FAILED = "EIGEN_DEPENDENCY_FAILED"


def ended(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> pb.Job:
    wait(stub, job_id)
    return stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id))


def test_a_diamond_runs_in_dependency_order(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    with holding(server) as held:
        a = submit(jobs, job(target=HELD, shots=10))
        held.wait_held()
        b = submit(jobs, job(dependencies=[a.id]))
        c = submit(jobs, job(dependencies=[f"job:{a.id}"]))
        d = submit(jobs, job(dependencies=[b.id, c.id]))
        waiting = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=d.id))
        assert waiting.state == pb.JOB_STATE_PENDING
        assert json.loads(waiting.progress_json) == {"phase": "WAITING", "waiting_for": [b.id, c.id]}
        assert json.loads(jobs.GetJob(jobs_pb2.GetJobRequest(job_id=b.id)).progress_json)["waiting_for"] == [
            a.id
        ]
    final = {name: ended(jobs, j.id) for name, j in {"a": a, "b": b, "c": c, "d": d}.items()}
    assert all(j.state == pb.JOB_STATE_DONE for j in final.values()), final
    started = {name: j.started_at.ToNanoseconds() for name, j in final.items()}
    finished = {name: j.finished_at.ToNanoseconds() for name, j in final.items()}
    assert started["b"] >= finished["a"] and started["c"] >= finished["a"]
    assert started["d"] >= max(finished["b"], finished["c"])


def test_a_failed_root_fails_its_dependants_recursively(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    with holding(server) as held:
        slow = submit(jobs, job(target=HELD, shots=10))
        held.wait_held()
        root = submit(jobs, job(dependencies=[slow.id]))
        child = submit(jobs, job(dependencies=[root.id]))
        grandchild = submit(jobs, job(dependencies=[child.id]))
        cancelled = jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=root.id))
        assert cancelled.state == pb.JOB_STATE_CANCELLED  # while it waited for the held job
        failed_child = ended(jobs, child.id)
        assert (failed_child.state, failed_child.error_code) == (pb.JOB_STATE_ERROR, FAILED)
        assert failed_child.error_summary == f"dependency {root.id} ended in CANCELLED"
        failed_grandchild = ended(jobs, grandchild.id)
        assert failed_grandchild.error_code == FAILED
        assert failed_grandchild.error_summary == f"dependency {child.id} ended in ERROR"
    assert ended(jobs, slow.id).state == pb.JOB_STATE_DONE


def test_an_unknown_dependency_is_refused_at_submit(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, job(dependencies=["job:no-such-job"]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", ["dependencies[0]"])
    assert "no-such-job" in (caught.value.details() or "")
