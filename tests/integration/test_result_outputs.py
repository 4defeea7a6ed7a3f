"""Result outputs end to end, against a real server: a job asks for memory, probabilities
and its state vector (SDK, REST, a job.yaml through the real CLI), reads them whole and in
chunks (StreamResults, REST NDJSON, ``eigen-cli results --stream``), sees the engine that
ran it, and a request over a size limit is INVALID_ARGUMENT at submission, no job made."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from eigen.client import Client
from eigen.errors import InvalidArgument
from eigen.models.chunks import merge
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL, details, job
from tests.integration.test_hardening_cli import run_cli

pytestmark = pytest.mark.integration

ALL = ["memory", "probabilities", "statevector"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(data_dir=tmp_path_factory.mktemp("outputs"), http_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.address) as opened:
        yield opened


def test_sdk_reads_memory_probabilities_and_statevector_whole_and_in_chunks(client: Client) -> None:
    future = client.submit(BELL, shots=400, seed=3, outputs=["counts", *ALL])
    result = future.result(timeout=60)
    (experiment,) = result.experiments
    assert result.engine == "aer"
    assert len(experiment.memory) == 400 and Counter(experiment.memory) == experiment.counts
    assert experiment.probabilities == pytest.approx([0.5, 0, 0, 0.5], abs=1e-9)
    assert [abs(a) ** 2 for a in experiment.statevector] == pytest.approx([0.5, 0, 0, 0.5], abs=1e-9)
    chunks = list(client.stream_results(future.job_id, chunk_size=64))
    assert len(chunks) == len({c.index for c in chunks}) > 400 // 64
    assert merge(chunks) == result


def test_the_engine_of_a_qsim_job_is_in_its_result(client: Client) -> None:
    result = client.submit(BELL, target="sim:qsim", shots=10, seed=1).result(timeout=60)
    assert result.engine == "qsim"


def test_over_a_limit_is_invalid_argument_at_submit_and_no_job(
    server: EmbeddedServer, client: Client
) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = jobs_pb2_grpc.JobServiceStub(channel)
        before = len(stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs)
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=_many_bindings(3, 400_000, ["memory"])))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        reason, fields = details(caught.value)
        assert reason == "EIGEN_INVALID_ARGUMENT" and fields == ["outputs"]
        assert "memory of 1,200,000 shots" in (caught.value.details() or "")
        assert len(stub.ListJobs(jobs_pb2.ListJobsRequest(page_size=500)).jobs) == before
    with pytest.raises(InvalidArgument, match="a job with observables"):
        client.submit(BELL, observables=["ZZ"], outputs=["probabilities"])
    with pytest.raises(InvalidArgument, match="sim:stabilizer is not one"):
        client.submit(BELL, target="sim:stabilizer", outputs=["statevector"])


def _many_bindings(runs: int, shots: int, outputs: list[str]) -> pb.JobRequest:
    source = BELL.replace('include "stdgates.inc";', 'include "stdgates.inc";\ninput float theta;').replace(
        "h q[0];", "rx(theta) q[0];"
    )
    request = job(source, shots=shots, outputs=outputs)
    for i in range(runs):
        request.parameter_bindings.add(values={"theta": 0.1 * i})
    return request


def test_rest_returns_outputs_and_streams_them_as_ndjson(server: EmbeddedServer) -> None:
    body = {"program": {"source": BELL}, "shots": 100, "seed": 2, "outputs": ["memory", "probabilities"]}
    with httpx.Client(base_url=server.http_address, timeout=30) as http:
        accepted = http.post("/v1/jobs", json={"job": body})
        assert accepted.status_code == 201, accepted.text
        job_id = accepted.json()["job"]["id"]
        whole = http.get(f"/v1/jobs/{job_id}/results", params={"wait_seconds": 60}).json()
        assert whole["engine"] == "aer"
        (experiment,) = whole["experiments"]
        assert len(experiment["memory"]) == 100 and experiment["statevector"] == []
        with http.stream("GET", f"/v1/jobs/{job_id}/results:stream", params={"chunk_size": 16}) as response:
            lines = [json.loads(line) for line in response.iter_lines() if line]
        memory = [shot for line in lines for e in line["partial"]["experiments"] for shot in e["memory"]]
        probabilities = [
            p for line in lines for e in line["partial"]["experiments"] for p in e["probabilities"]
        ]
        assert memory == experiment["memory"] and probabilities == experiment["probabilities"]
        assert lines[-1]["is_final"] and all(
            sum(
                len(e["memory"]) + len(e["probabilities"]) + len(e["counts"])
                for e in line["partial"]["experiments"]
            )
            <= 16
            for line in lines
        )
        refused = http.post("/v1/jobs", json={"job": {**body, "outputs": ["amplitudes"]}})
        assert refused.status_code == 400, refused.text
        assert "outputs" in refused.text


def test_a_job_file_asks_for_outputs_and_the_cli_streams_them(server: EmbeddedServer, tmp_path: Path) -> None:
    (tmp_path / "bell.qasm").write_text(BELL)
    path = tmp_path / "job.yaml"
    path.write_text(
        "apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {name: outputs}\nspec:\n"
        "  target: sim:statevector\n  program: {path: bell.qasm}\n"
        "  metadata: {shots: 50, seed: 4, outputs: 'counts,memory,probabilities'}\n"
    )
    submitted = run_cli(server, "submit", "--job", str(path), "--json")
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    shown = run_cli(server, "results", job_id, "--wait", "60")
    assert shown.returncode == 0, shown.stderr
    assert "engine aer" in shown.stdout and "memory (50 shots)" in shown.stdout
    assert "probabilities (4 basis states; the likeliest)" in shown.stdout
    streamed = run_cli(server, "results", job_id, "--stream")
    assert streamed.returncode == 0, streamed.stderr
    lines = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert lines[-1]["is_final"] and lines[0]["engine"] == "aer"
    memory = [shot for line in lines for e in line["experiments"] for shot in e.get("memory", [])]
    assert len(memory) == 50
    misspelt = path.read_text().replace("outputs:", "output:")
    path.write_text(misspelt)
    refused = run_cli(server, "submit", "--job", str(path))
    assert refused.returncode == 2 and "did you mean spec.metadata.outputs" in refused.stdout + refused.stderr
