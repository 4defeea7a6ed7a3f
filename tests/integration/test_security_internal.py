"""The internal edges across four real processes with EIGEN_INTERNAL_TOKEN: the public path
works end to end, and a call that reaches an internal port without the token, or from a
role that does not call that service, is refused (and logged without the token)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from eigen.client.client import Client
from eigen.models.principal import Principal
from eigen.models.state import JobState
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.internal.v1 import (
    compiler_pb2,
    compiler_pb2_grpc,
    driver_pb2,
    driver_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
)
from eigen.proto.status import error_from_rpc
from eigen.security.internal import PRINCIPAL, SERVICE_ROLE, SERVICE_TOKEN, encode_principal
from tests.integration.test_four_processes import free_port, wait_serving

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TOKEN = "internal-edges-token-0123456789abcdef"
ROLES = ("api", "kernel", "compiler", "driver-manager")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory, logs: Path) -> Iterator[dict[str, int]]:
    ports = {role: free_port() for role in ROLES}
    env = {
        **os.environ,
        "EIGEN_DATA_DIR": str(tmp_path_factory.mktemp("four")),
        "EIGEN_KERNEL_ADDRESS": f"127.0.0.1:{ports['kernel']}",
        "EIGEN_COMPILER_ADDRESS": f"127.0.0.1:{ports['compiler']}",
        "EIGEN_DRIVER_MANAGER_ADDRESS": f"127.0.0.1:{ports['driver-manager']}",
        "EIGEN_INTERNAL_TOKEN": TOKEN,
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
            log_file = (logs / f"{role}.log").open("w")
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log_file)
            processes.append(process)
            wait_serving(f"127.0.0.1:{ports[role]}", process, time.monotonic() + 60)
        yield ports
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def refused(call: grpc.RpcError) -> str:
    """The EIGEN_* reason of a refused call (and its status code agrees)."""
    reason = error_from_rpc(call, "test").code
    assert isinstance(call, grpc.Call) and call.code().name == reason.removeprefix("EIGEN_")
    return reason


def test_the_public_path_works_end_to_end_with_the_token(ports: dict[str, int]) -> None:
    with Client(f"127.0.0.1:{ports['api']}", caller="internal-test") as client:
        job = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=50)
        final = client.wait(job.id)
        assert final.state is JobState.DONE, final.error_summary  # api -> kernel -> compiler, drivers
        assert final.owner == "internal-test"
        assert sum(client.results(job.id).counts.values()) == 50
        listed = client.jobs.ListJobs(jobs_pb2.ListJobsRequest(id_prefix=job.id[:20], page_size=5))
        assert [j.id for j in listed.jobs] == [job.id]


def test_every_internal_port_refuses_a_call_without_the_token(ports: dict[str, int], logs: Path) -> None:
    calls = {
        "kernel": lambda ch, md: kernel_pb2_grpc.KernelServiceStub(ch).ListBackends(
            jobs_pb2.ListBackendsRequest(), metadata=md, timeout=10
        ),
        "compiler": lambda ch, md: compiler_pb2_grpc.CompilationServiceStub(ch).Validate(
            compiler_pb2.CompileRequest(), metadata=md, timeout=10
        ),
        "driver-manager": lambda ch, md: driver_pb2_grpc.DriverManagerServiceStub(ch).ListDevices(
            driver_pb2.ListDevicesRequest(), metadata=md, timeout=10
        ),
    }
    for role, call in calls.items():
        with grpc.insecure_channel(f"127.0.0.1:{ports[role]}") as channel:
            for metadata in ((), ((SERVICE_TOKEN, "not-the-token"), (SERVICE_ROLE, "api"))):
                with pytest.raises(grpc.RpcError) as caught:
                    call(channel, metadata)
                assert refused(caught.value) == "EIGEN_UNAUTHENTICATED", role
    time.sleep(0.3)  # let the servers flush their logs
    for role in calls:
        text = (logs / f"{role}.log").read_text()
        assert TOKEN not in text
        lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        refusals = [line for line in lines if line.get("event") == "internal call refused"]
        assert len(refusals) >= 2 and {r["reason"] for r in refusals} >= {
            "no service token",
            "wrong service token",
        }
        assert all(r["peer"] for r in refusals)


def test_with_the_token_only_the_api_role_calls_the_kernel_and_asserts(ports: dict[str, int]) -> None:
    asserted = encode_principal(Principal("acme", "mallory", frozenset({"admin"}), "jwt"))
    with grpc.insecure_channel(f"127.0.0.1:{ports['kernel']}") as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        for role in ("kernel", "compiler", "driver-manager", ""):
            metadata = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, role), (PRINCIPAL, asserted))
            with pytest.raises(grpc.RpcError) as caught:
                kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=5), metadata=metadata, timeout=10)
            assert refused(caught.value) == "EIGEN_PERMISSION_DENIED", role
        metadata = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"), (PRINCIPAL, "{broken"))
        with pytest.raises(grpc.RpcError) as caught:
            kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=5), metadata=metadata, timeout=10)
        assert refused(caught.value) == "EIGEN_UNAUTHENTICATED"
        # the api's own call (no principal behind it) with the token: served
        api = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"))
        assert kernel.ListBackends(jobs_pb2.ListBackendsRequest(), metadata=api, timeout=10).backends


def test_the_public_services_ignore_the_internal_headers(ports: dict[str, int]) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{ports['api']}") as channel:
        from eigen.proto.api.v1 import jobs_pb2_grpc

        backends = jobs_pb2_grpc.BackendServiceStub(channel)
        metadata = ((SERVICE_TOKEN, "wrong"), (SERVICE_ROLE, "kernel"), (PRINCIPAL, "{broken"))
        assert backends.ListBackends(jobs_pb2.ListBackendsRequest(), metadata=metadata, timeout=10).backends


def test_the_kernel_holds_an_asserted_principal_to_its_tenant(ports: dict[str, int]) -> None:
    with Client(f"127.0.0.1:{ports['api']}", caller="someone") as client:
        theirs = client.submit(EXAMPLES / "bell-qasm3" / "job.yaml", shots=10)  # the default tenant
    bell = (EXAMPLES / "bell-qasm3" / "bell.qasm").read_text()
    job = pb.JobRequest(program=pb.Program(source=bell), shots=10)

    def as_(principal: Principal) -> tuple[tuple[str, str], ...]:
        return ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"), (PRINCIPAL, encode_principal(principal)))

    submitter = as_(Principal("acme", "alice", frozenset({"submitter"}), "api_key"))
    viewer = as_(Principal("acme", "victor", frozenset({"viewer"}), "api_key"))
    with grpc.insecure_channel(f"127.0.0.1:{ports['kernel']}") as channel:
        kernel = kernel_pb2_grpc.KernelServiceStub(channel)
        for metadata, tenant in ((submitter, "default"), (viewer, "acme")):
            with pytest.raises(grpc.RpcError) as caught:
                kernel.Enqueue(
                    kernel_pb2.EnqueueRequest(job=job, tenant=tenant), metadata=metadata, timeout=30
                )
            assert refused(caught.value) == "EIGEN_PERMISSION_DENIED"
        ours = kernel.Enqueue(
            kernel_pb2.EnqueueRequest(job=job, tenant="acme"), metadata=submitter, timeout=30
        ).job
        assert ours.tenant == "acme" and ours.owner == "alice"
        batch = kernel_pb2.EnqueueBatchRequest(jobs=[job, job], tenant="acme")
        batched = kernel.EnqueueBatch(batch, metadata=submitter, timeout=30).jobs
        assert {(j.tenant, j.owner) for j in batched} == {("acme", "alice")}
        # a listing keeps the asserted tenant whatever filter comes with it
        for tenant in ("", "default"):
            listed = kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=100, tenant=tenant), metadata=viewer)
            assert {j.id for j in listed.jobs} == {ours.id, *(j.id for j in batched)}
        # the api's own listing (no principal) keeps the filter it sends
        api = ((SERVICE_TOKEN, TOKEN), (SERVICE_ROLE, "api"))
        listed = kernel.ListJobs(jobs_pb2.ListJobsRequest(page_size=100, tenant="default"), metadata=api)
        assert theirs.id in {j.id for j in listed.jobs} and ours.id not in {j.id for j in listed.jobs}
