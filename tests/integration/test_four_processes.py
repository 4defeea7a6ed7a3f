"""The RFC 0002 topology: api, kernel, compiler and driver-manager as four processes
talking gRPC on loopback; a job goes job.yaml -> SubmitJob -> DONE -> GetJobResults."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eigen.client.client import Client
from eigen.errors import InvalidArgument
from eigen.models.state import JobState
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_serving(
    address: str,
    process: subprocess.Popen[bytes],
    deadline: float,
    credentials: grpc.ChannelCredentials | None = None,
) -> None:
    """Until ``address`` answers its health check SERVING (over TLS with ``credentials``)."""
    channel = (
        grpc.insecure_channel(address) if credentials is None else grpc.secure_channel(address, credentials)
    )
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server at {address} exited with {process.returncode}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                time.sleep(0.2)
    raise TimeoutError(f"server at {address} did not become healthy")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def api_address(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[str]:
    ports = {role: free_port() for role in ("api", "kernel", "compiler", "driver-manager")}
    env = {
        **os.environ,
        "EIGEN_DATA_DIR": str(tmp_path_factory.mktemp("four")),
        "EIGEN_KERNEL_ADDRESS": f"127.0.0.1:{ports['kernel']}",
        "EIGEN_COMPILER_ADDRESS": f"127.0.0.1:{ports['compiler']}",
        "EIGEN_DRIVER_MANAGER_ADDRESS": f"127.0.0.1:{ports['driver-manager']}",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for role in ("driver-manager", "compiler", "kernel", "api"):
            command = [
                sys.executable,
                "-m",
                "eigen.server",
                "serve",
                "--role",
                role,
                "--port",
                str(ports[role]),
            ]
            command += ["--log-level", "DEBUG"]
            log_file = (logs / f"{role}.log").open("w")
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
            processes.append(process)
            wait_serving(f"127.0.0.1:{ports[role]}", process, time.monotonic() + 60)
        yield f"127.0.0.1:{ports['api']}"
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def test_job_yaml_to_results_across_four_processes(api_address: str) -> None:
    with Client(api_address, caller="four-process-test") as client:
        job = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml")
        final = client.wait(job.id)
        assert final.state is JobState.DONE, final.error_summary
        assert final.owner == "four-process-test"  # the caller's identity crossed api -> kernel
        result = client.results(job.id)
        assert set(result.counts) <= {"00", "11"} and sum(result.counts.values()) == 1000
        assert {d.name for d, _ in client.backends()} >= {"sim:statevector", "emu:manila"}
        # the long poll through the api process: it waits on the kernel's event stream
        waited = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10)
        assert sum(client.results(waited.id, wait=60).counts.values()) == 10


def test_errors_cross_every_edge_with_their_details(api_address: str) -> None:
    with Client(api_address) as client:
        from eigen.models.job import JobRequest
        from eigen.models.program import ProgramLanguage

        bad = JobRequest(
            name="bad",
            program="OPENQASM 3.0; qubit[2] q; nonsense q[0];",
            language=ProgramLanguage.QASM3,
        )
        with pytest.raises(InvalidArgument) as caught:
            client.submit(bad)
        assert caught.value.violations and caught.value.violations[0].field == "program"


def test_trace_and_caller_cross_every_edge(api_address: str, logs: Path) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    metadata = (("traceparent", f"00-{trace_id}-00f067aa0ba902b7-01"), ("x-eigen-caller", "tracer"))
    with grpc.insecure_channel(api_address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        bell = (EXAMPLES / "bell-qasm3" / "bell.qasm").read_text()
        request = jobs_pb2.SubmitJobRequest(job=pb.JobRequest(program=pb.Program(source=bell), shots=10))
        job = stub.SubmitJob(request, metadata=metadata).job
        events = list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job.id), metadata=metadata))
    assert events[-1].state == pb.JOB_STATE_DONE
    time.sleep(0.5)  # let the servers flush their logs
    for role in ("api", "kernel", "compiler", "driver-manager"):
        lines = [
            json.loads(line)
            for line in (logs / f"{role}.log").read_text().splitlines()
            if line.startswith("{")
        ]
        traced = [line for line in lines if line.get("trace_id") == trace_id]
        assert traced, f"{role} saw no call of trace {trace_id}"
        assert {line["caller"] for line in traced} == {"tracer"}


def test_a_short_job_id_resolves_across_four_processes(api_address: str) -> None:
    """The id prefix filter crosses api -> kernel: a prefix lists its jobs, not every job."""
    with Client(api_address) as client:
        first = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10)
        client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10)
        listed = client.jobs.ListJobs(jobs_pb2.ListJobsRequest(id_prefix=first.id[:20], page_size=5))
        assert [job.id for job in listed.jobs] == [first.id]
        assert client.resolve_job_id(first.id[:20]) == first.id


def test_a_keyed_batch_crosses_api_to_kernel_once(api_address: str) -> None:
    """SubmitBatch's idempotency key reaches the kernel process (EnqueueBatch): the same
    key with the same jobs answers the same job ids, with other jobs FAILED_PRECONDITION."""
    from eigen.errors import FailedPrecondition

    job_file = EXAMPLES / "bell-qasm3" / "job.yaml"
    with Client(api_address) as client:
        first = client.submit_batch([job_file, job_file], idempotency_key="four-batch-1", shots=10)
        again = client.submit_batch([job_file, job_file], idempotency_key="four-batch-1", shots=10)
        assert [f.id for f in again] == [f.id for f in first]
        with pytest.raises(FailedPrecondition, match="different batch"):
            client.submit_batch([job_file, job_file], idempotency_key="four-batch-1", shots=11)
        assert all(client.wait(f.id).state is JobState.DONE for f in first)
