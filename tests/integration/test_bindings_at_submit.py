"""Parameter bindings are checked when the job is submitted (the real CLI process and the
gRPC API against a real server): a misspelt or missing parameter name is INVALID_ARGUMENT
naming the binding and the parameter, exit code 2, and no job is created."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import details, job, submit
from tests.integration.test_hardening_cli import assert_user_error, run_cli

pytestmark = pytest.mark.integration

ROTATION = """OPENQASM 3.0;
include "stdgates.inc";
input float theta;
qubit[1] q;
bit[1] c;
rx(theta) q[0];
c = measure q;
"""


def job_yaml(folder: Path, bindings: str) -> Path:
    (folder / "rot.qasm").write_text(ROTATION)
    path = folder / "job.yaml"
    path.write_text(
        "apiVersion: eigen.os/v1\nmetadata: {name: bindings}\nspec:\n"
        "  target: sim:statevector\n  program: {path: rot.qasm}\n"
        f"  metadata: {{shots: 20, seed: 1}}\n  parameters:\n{bindings}"
    )
    return path


def job_count(jobs: jobs_pb2_grpc.JobServiceStub) -> int:
    return len(jobs.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs)


def test_an_unknown_parameter_is_exit_2_and_no_job(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub, tmp_path: Path
) -> None:
    before = job_count(jobs)
    path = job_yaml(tmp_path, "    - {theta: 0.1}\n    - {thta: 0.2}\n")
    done = run_cli(server, "submit", "--job", str(path))
    assert_user_error(done, "parameter_bindings[1]: unknown parameter 'thta'", "(the circuit has: theta)")
    assert "parameter_bindings[0]" not in done.stdout + done.stderr
    assert job_count(jobs) == before


def test_a_missing_parameter_is_exit_2(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_yaml(tmp_path, "    - {}\n")
    assert_user_error(
        run_cli(server, "submit", "--job", str(path)), "parameter_bindings[0]: missing parameter 'theta'"
    )


def test_grpc_names_the_binding_field(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    bindings = [pb.ParameterBinding(values={"theta": 0.1}), pb.ParameterBinding(values={"phi": 1.0})]
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, job(ROTATION, parameter_bindings=bindings))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details(caught.value) == ("EIGEN_INVALID_ARGUMENT", ["parameter_bindings[1]"])


def test_good_bindings_still_run(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_yaml(tmp_path, "    - {theta: 0.0}\n    - {theta: 3.14159}\n")
    done = run_cli(server, "submit", "--job", str(path), "--watch", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["state"] == "DONE"
