"""Result retention in a running server: its periodic sweeper expires old results, the job
stays DONE, and GetJobResults answers FAILED_PRECONDITION saying the results expired.
A real embedded server (gRPC on a free loopback port, a real SQLite file)."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import details, job, submit, wait

pytestmark = pytest.mark.integration

# Results older than ~0.2 s expire; the sweeper looks every 0.1 s.
SETTINGS = Settings(result_retention_days=0.2 / 86_400, result_retention_interval_s=0.1)


def test_the_servers_sweeper_expires_results_and_keeps_the_job(tmp_path: Path) -> None:
    with EmbeddedServer(SETTINGS, data_dir=tmp_path) as server, grpc.insecure_channel(server.address) as ch:
        stub = jobs_pb2_grpc.JobServiceStub(ch)
        created = submit(stub, job(target="sim:stabilizer", shots=32))
        assert wait(stub, created.id)[-1].state == pb.JOB_STATE_DONE
        deadline = time.monotonic() + 20
        while True:
            try:
                stub.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=created.id), timeout=10)
            except grpc.RpcError as exc:
                error = exc
                break
            assert time.monotonic() < deadline, "the results never expired"
            time.sleep(0.05)
        assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
        assert details(error)[0] == "EIGEN_FAILED_PRECONDITION" and "expired" in (error.details() or "")
        kept = stub.GetJob(jobs_pb2.GetJobRequest(job_id=created.id), timeout=10)
        assert kept.state == pb.JOB_STATE_DONE and kept.HasField("result_expired_at")
        assert kept.result_expired_at.ToNanoseconds() >= kept.finished_at.ToNanoseconds()
