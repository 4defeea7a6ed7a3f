"""Memory admission through the real APIs: with a small ``worker_memory_bytes``, a job too
wide for the worker's memory is refused at submit with RESOURCE_EXHAUSTED naming the bytes
it needs and the limit, and nothing is stored; sim:statevector admits (and runs on qsim) a
job whose complex64 state fits where aer's complex128 one would not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from eigen.config.settings import Settings
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import job, submit, wait
from tests.integration.rest_helpers import PROBLEM_JSON
from tests.integration.rest_helpers import job as rest_job

pytestmark = pytest.mark.integration

MIB = 1 << 20
LIMIT = 200 * MIB  # a 24-qubit complex64 state (128 MiB) fits, a complex128 one (256 MiB) not


def program(width: int) -> str:
    return (
        f'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[{width}] q;\nbit[{width}] c;\n'
        f"h q[0];\ncx q[0], q[1];\nc = measure q;\n"
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    data_dir: Path = tmp_path_factory.mktemp("eigen-memory")
    settings = Settings(worker_memory_bytes=LIMIT)
    with EmbeddedServer(settings, data_dir=data_dir, http_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def jobs(server: EmbeddedServer) -> Iterator[jobs_pb2_grpc.JobServiceStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield jobs_pb2_grpc.JobServiceStub(channel)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in the error")


def stored(jobs: jobs_pb2_grpc.JobServiceStub) -> list[pb.Job]:
    return list(jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=100)).jobs)


@pytest.mark.parametrize(
    ("target", "what"),
    [
        ("sim:aer", "4.0 GiB for a 28-qubit complex128 state vector"),
        ("sim:statevector", "2.0 GiB for a 28-qubit complex64 state vector"),
        ("sim:qsim", "2.0 GiB for a 28-qubit complex64 state vector"),
    ],
)
def test_a_too_wide_job_is_refused_at_submit_and_nothing_is_stored(
    jobs: jobs_pb2_grpc.JobServiceStub, target: str, what: str
) -> None:
    before = stored(jobs)
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, job(program(28), target=target))
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
    message = error.details()  # type: ignore[attr-defined]
    assert f"{target}: the job needs {what}" in message
    assert "memory limit of 200.0 MiB" in message and "worker_memory_bytes" in message
    info = error_info(error)
    assert info.reason == "EIGEN_RESOURCE_EXHAUSTED"
    assert info.metadata["value"] == str(LIMIT) and int(info.metadata["needed_bytes"]) > LIMIT
    assert stored(jobs) == before


def test_statevector_admits_and_runs_what_only_qsim_holds(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    with pytest.raises(grpc.RpcError, match="24-qubit complex128"):
        submit(jobs, job(program(24), target="sim:aer"))
    accepted = submit(jobs, job(program(24), target="sim:statevector", shots=100))
    events = wait(jobs, accepted.id)
    assert events[-1].state == pb.JOB_STATE_DONE
    results = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
    assert "qsim_s" in results.timings  # aer's 256 MiB would not fit in 200 MiB
    assert set(dict(results.experiments[0].counts)) <= {"0" * 24, "0" * 22 + "11"}


def test_the_rest_gateway_answers_the_refusal_as_429_with_the_bytes(server: EmbeddedServer) -> None:
    with httpx.Client(base_url=server.http_address, timeout=30) as client:
        response = client.post("/v1/jobs", json={"job": rest_job(program(28), target="sim:aer")})
        assert response.status_code == 429
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        body = response.json()
        assert "4.0 GiB for a 28-qubit complex128 state vector" in body["detail"]
        listed = client.get("/v1/jobs", params={"target": "sim:aer"}).json()
        assert listed.get("jobs", []) == []
