"""The JobSpec 1.0 fields of a job (namespace, annotations, workload, kept sections) across
every edge a user reads them from: gRPC GetJob, REST GET, ``eigen-cli status --json``, and
the four-process topology (api -> kernel and back); a result summary keeps JSON types (an
int stays an int) over gRPC and REST; bad kept sections are refused naming the field."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from eigen.client.client import Client
from eigen.models.state import JobState
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration import rest_helpers
from tests.integration.helpers import BELL, details, job, submit, wait
from tests.integration.test_four_processes import api_address, logs  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("eigen-cli"))
ANNOTATIONS = {"owner.team": "chemistry", "ticket": "EIG-15"}
EXTENSIONS: dict[str, Any] = {
    "scheduling": {"queue": "batch", "priority_class": "low", "preemptible": True},
    "observability": {"trace": True, "sample_rate": 1},
    "runtime": {"retries": 2, "image": None, "env": ["A", "B"]},
}
# One qubit, one parameter: a hybrid loop whose returns hold ints (the iteration counts).
HYBRID = """from eigen_lang import ExpectationValue, Observable, Param, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program
def main():
    t = Param("t", 0.5)
    ry(0, t)
    value = ExpectationValue("z", observable=Observable(Z=0))
    best = minimize(value, [t], method="COBYLA", max_iters=15)
    return {"z": best.fun, "meta": best.metadata}
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with rest_helpers.rest_server(tmp_path_factory.mktemp("v1-fields")) as server:
        yield server


@pytest.fixture(scope="module")
def stub(running: EmbeddedServer) -> Iterator[jobs_pb2_grpc.JobServiceStub]:
    with grpc.insecure_channel(running.address) as channel:
        yield jobs_pb2_grpc.JobServiceStub(channel)


@pytest.fixture(scope="module")
def http(running: EmbeddedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.http_address, timeout=30) as client:
        yield client


def with_fields(**changes: object) -> pb.JobRequest:
    return job(
        BELL,
        name="fields",
        namespace="research",
        annotations=ANNOTATIONS,
        workload="QuantumJob",
        extensions_json=json.dumps(EXTENSIONS),
        **changes,
    )


def assert_fields(shown: dict[str, Any]) -> None:
    """A job as JSON (REST view or ``eigen-cli status --json``) shows every kept field."""
    assert shown["namespace"] == "research"
    assert shown["annotations"] == ANNOTATIONS
    assert shown["workload"] == "QuantumJob"
    assert shown["extensions"] == EXTENSIONS
    assert type(shown["extensions"]["runtime"]["retries"]) is int


def assert_fields_pb(message: pb.Job) -> None:
    assert message.namespace == "research"
    assert dict(message.annotations) == ANNOTATIONS
    assert message.workload == "QuantumJob"
    assert json.loads(message.extensions_json) == EXTENSIONS


def cli(server: EmbeddedServer, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "EIGEN_ENDPOINT": server.address, "COLUMNS": "200"}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env=environment, check=False
    )


def test_grpc_submission_reads_back_everywhere(
    running: EmbeddedServer, stub: jobs_pb2_grpc.JobServiceStub, http: httpx.Client
) -> None:
    accepted = submit(stub, with_fields())
    assert_fields_pb(accepted)
    assert wait(stub, accepted.id)[-1].state == pb.JOB_STATE_DONE
    assert_fields_pb(stub.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)))
    listed = stub.ListJobs(jobs_pb2.ListJobsRequest(labels={}, page_size=50)).jobs
    assert_fields_pb(next(j for j in listed if j.id == accepted.id))

    response = http.get(f"/v1/jobs/{accepted.id}")
    assert response.status_code == 200, response.text
    assert_fields(response.json())

    done = cli(running, "status", accepted.id, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_fields(json.loads(done.stdout))
    table = cli(running, "status", accepted.id)
    assert table.returncode == 0, table.stdout + table.stderr
    for needle in ("research", "QuantumJob", "EIG-15", "scheduling", '"queue": "batch"'):
        assert needle in table.stdout, table.stdout


def test_rest_submission_reads_back_over_grpc(stub: jobs_pb2_grpc.JobServiceStub, http: httpx.Client) -> None:
    body = rest_helpers.job(
        BELL,
        namespace="research",
        annotations=ANNOTATIONS,
        workload="QuantumJob",
        extensions=EXTENSIONS,
    )
    accepted = rest_helpers.submit(http, body)
    assert_fields(accepted)
    assert_fields_pb(stub.GetJob(jobs_pb2.GetJobRequest(job_id=accepted["id"])))


def test_bad_extensions_json_is_invalid_argument_naming_the_field(
    stub: jobs_pb2_grpc.JobServiceStub,
) -> None:
    for text in ("{oops", "[1, 2]", json.dumps({"big": "x" * 40_000})):
        with pytest.raises(grpc.RpcError) as caught:
            submit(stub, job(BELL, extensions_json=text))
        assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        reason, fields = details(caught.value)
        assert (reason, fields) == ("EIGEN_INVALID_ARGUMENT", ["job.extensions_json"])


def test_workload_kinds_are_checked_at_both_edges(
    stub: jobs_pb2_grpc.JobServiceStub, http: httpx.Client
) -> None:
    with pytest.raises(grpc.RpcError) as unknown:
        submit(stub, job(BELL, workload="MagicJob"))
    assert unknown.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert details(unknown.value)[1] == ["job.workload"]
    with pytest.raises(grpc.RpcError) as later:
        submit(stub, job(BELL, workload="DistributedJob"))
    assert later.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert "DistributedJob" in (later.value.details() or "")

    stage = {"workload": {"kind": "PipelineJob", "pipeline": {"output_refs": ["counts"]}}}
    accepted = rest_helpers.submit(http, rest_helpers.job(BELL, workload="PipelineJob", extensions=stage))
    assert (
        accepted["workload"] == "PipelineJob"
    )  # a PipelineJob stage runs (tests/integration/test_pipeline_jobs.py)
    stage["workload"]["pipeline"]["input_refs"] = ["job:no-such-stage/counts"]
    refused = http.post(
        "/v1/jobs", json={"job": rest_helpers.job(BELL, workload="PipelineJob", extensions=stage)}
    )
    assert refused.status_code == 400, refused.text
    assert [v["field"] for v in refused.json()["violations"]] == ["spec.workload.pipeline.input_refs[0]"]
    later_rest = http.post("/v1/jobs", json={"job": rest_helpers.job(BELL, workload="DistributedJob")})
    assert later_rest.status_code == 501 and "DistributedJob" in later_rest.json()["detail"]
    bad = http.post("/v1/jobs", json={"job": rest_helpers.job(BELL, extensions=[1])})
    assert bad.status_code == 400
    assert [v["field"] for v in bad.json()["violations"]] == ["job.extensions"]


def test_an_int_in_a_result_summary_stays_an_int(running: EmbeddedServer, http: httpx.Client) -> None:
    with Client(running.address) as client:
        accepted = client.submit(HYBRID, shots=0, seed=5)
        assert client.wait(accepted.id).state is JobState.DONE
        summary = client.results(accepted.id).summary
    assert type(summary["iterations"]) is int and type(summary["evaluations"]) is int
    assert type(summary["returns"]["meta"]["iterations"]) is int
    assert summary["returns"]["meta"]["iterations"] == summary["iterations"]
    shown = http.get(f"/v1/jobs/{accepted.id}/results").json()["summary"]
    assert type(shown["returns"]["meta"]["evaluations"]) is int

    printed = cli(running, "results", accepted.id, "--json")
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert type(json.loads(printed.stdout)["summary"]["iterations"]) is int


def test_nothing_is_dropped_across_four_processes(api_address: str) -> None:  # noqa: F811
    with grpc.insecure_channel(api_address) as channel:
        four = jobs_pb2_grpc.JobServiceStub(channel)
        accepted = submit(four, with_fields())
        assert_fields_pb(accepted)
        assert wait(four, accepted.id)[-1].state == pb.JOB_STATE_DONE
        assert_fields_pb(four.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)))
        listed = four.ListJobs(jobs_pb2.ListJobsRequest(page_size=50)).jobs
        assert_fields_pb(next(j for j in listed if j.id == accepted.id))
        with pytest.raises(grpc.RpcError) as caught:
            submit(four, job(BELL, extensions_json="[]"))
        assert details(caught.value)[1] == ["job.extensions_json"]
    with Client(api_address) as client:
        hybrid = client.submit(HYBRID, shots=0, seed=5)
        assert client.wait(hybrid.id).state is JobState.DONE
        summary = client.results(hybrid.id).summary
    assert type(summary["returns"]["meta"]["iterations"]) is int
