"""Workload kinds on a real embedded server over gRPC (real compiler, real simulators, a
real SQLite file): a BenchmarkJob run twice with one seed gives identical counts and records
its execution context; a ReplayJob of it matches bit for bit; a replay of a job that had no
seed matches too, on a coupled noisy emulator; DistributedJob is UNIMPLEMENTED naming
the kind (PipelineJob runs: tests/integration/test_pipeline_jobs.py); a program given by
``qfs://`` uri runs."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import BELL, SLOW, details, submit, wait

pytestmark = pytest.mark.integration

DONE = pb.JobState.JOB_STATE_DONE

# Five qubits in an entangled, uneven superposition: many outcomes, so a seed matters.
SPREAD = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[5] q;\nbit[5] c;\n'
    + "".join(
        f"h q[{i}];\nrz(0.{i + 3}) q[{i}];\ncx q[{i}], q[{(i + 1) % 5}];\nrx(0.{i + 1}) q[{i}];\n"
        for i in range(5)
    )
    + "c = measure q;\n"
)


def request(source: str = SPREAD, **fields: Any) -> pb.JobRequest:
    values: dict[str, Any] = {"name": "wl", "target": "sim:statevector", "shots": 2000}
    values.update(fields)
    return pb.JobRequest(program=pb.Program(source=source), **values)


def run(jobs: jobs_pb2_grpc.JobServiceStub, job: pb.JobRequest) -> tuple[pb.Job, pb.JobResults]:
    accepted = submit(jobs, job)
    events = wait(jobs, accepted.id)
    assert events[-1].state == DONE, events[-1].message
    results = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
    return jobs.GetJob(jobs_pb2.GetJobRequest(job_id=accepted.id)), results


def counts(results: pb.JobResults) -> list[dict[str, int]]:
    return [dict(experiment.counts) for experiment in results.experiments]


def summary(results: pb.JobResults) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(results.summary_json)
    return found


def replay(of: str) -> pb.JobRequest:
    return request(BELL, workload="ReplayJob", options={"replay_of": of}, target="sim:stabilizer")


def test_a_benchmark_is_reproducible_and_replays_bit_for_bit(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    bench = request(workload="BenchmarkJob", seed=4242, optimization_level=2)
    first_job, first = run(jobs, bench)
    _, second = run(jobs, bench)
    assert first_job.workload == "BenchmarkJob"
    assert counts(first) == counts(second)
    assert len(counts(first)[0]) > 4  # many outcomes: the same counts are the seed's doing
    context = summary(first)["execution_context"]
    assert context == summary(second)["execution_context"]
    assert context["seed"] == 4242 and context["target"] == "sim:statevector"
    assert context["backend"] == "sim:statevector" and context["shots"] == 2000
    assert context["compiler"]["optimization_level"] == 2
    assert context["compiler"]["transpile_seed"] == 4242
    assert context["packages"]["qiskit"] and context["packages"]["python"]

    replay_job, replayed = run(jobs, replay(first_job.id))
    assert replay_job.workload == "ReplayJob"
    assert replay_job.target == "sim:statevector"  # the original's, not the replay's own
    assert replay_job.program_uri == f"qfs://{first_job.id}/program.qasm"
    assert counts(replayed) == counts(first)
    found = summary(replayed)["replay"]
    assert found == {
        "of": first_job.id,
        "matched": True,
        "seed": 4242,
        "original_seed": 4242,
        "experiments": 1,
        "differing_experiments": 0,
        "differences": [],
    }
    assert summary(replayed)["execution_context"]["seed"] == 4242


def test_a_replay_of_an_unseeded_job_on_a_coupled_noisy_device_matches(
    jobs: jobs_pb2_grpc.JobServiceStub,
) -> None:
    """The original's driver drew its seed and recorded it; the replay runs with it and
    compiles (layout, routing) as the original did."""
    original_job, original = run(jobs, request(target="emu:manila", shots=1500))
    replay_job, replayed = run(jobs, replay(original_job.id))
    assert replay_job.target == "emu:manila"
    assert counts(replayed) == counts(original)
    assert summary(replayed)["replay"]["matched"] is True
    assert summary(replayed)["replay"]["seed"] == original.seed


def test_a_replay_of_a_job_without_results_is_refused(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    failed = submit(jobs, request(SLOW, timeout_seconds=0.001))  # ends in TIMEOUT, no result
    assert wait(jobs, failed.id)[-1].state == pb.JobState.JOB_STATE_TIMEOUT
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, replay(failed.id))
    assert caught.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert failed.id in (caught.value.details() or "")
    with pytest.raises(grpc.RpcError) as unknown:
        submit(jobs, replay("nosuchjob"))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("kind", ["DistributedJob"])
def test_kinds_not_implemented_yet_are_refused_naming_the_kind(
    jobs: jobs_pb2_grpc.JobServiceStub, kind: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        submit(jobs, request(BELL, workload=kind))
    assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
    assert kind in (caught.value.details() or "")
    reason, fields = details(caught.value)
    assert reason == "EIGEN_UNIMPLEMENTED"
    assert any(field.endswith("workload") for field in fields)


def test_a_program_by_uri_runs(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    source_job, source = run(jobs, request(seed=5))
    by_uri = pb.JobRequest(
        name="by-uri",
        program=pb.Program(uri=f"qfs://{source_job.id}"),
        target="sim:statevector",
        shots=2000,
        seed=5,
    )
    job, results = run(jobs, by_uri)
    assert job.program_uri == f"qfs://{source_job.id}"
    assert counts(results) == counts(source)
    with pytest.raises(grpc.RpcError) as caught:
        submit(
            jobs,
            pb.JobRequest(name="gone", program=pb.Program(uri="qfs://nosuchjob"), target="sim:statevector"),
        )
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert details(caught.value)[1] and "program.uri" in details(caught.value)[1][0]


VQE = """from eigen_lang import ExpectationValue, Observable, Param, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program
def main():
    t = Param("t", 0.1)
    ry(0, t)
    energy = ExpectationValue("energy", observable=Observable({"Z": 1.0}))
    optimum = minimize(energy, [t], method="COBYLA", max_iters=5)
    return {"energy": optimum.fun}
"""


def test_submission_checks_by_kind_over_grpc(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    refusals = [
        (request(VQE, workload="QuantumJob"), grpc.StatusCode.INVALID_ARGUMENT, "spec.workload.kind"),
        (request(BELL, workload="HybridWorkflow"), grpc.StatusCode.INVALID_ARGUMENT, "spec.workload.kind"),
        (
            request(BELL, extensions_json=json.dumps({"resources": {"quantum": {"qubits": 1000}}})),
            grpc.StatusCode.INVALID_ARGUMENT,
            "resources.quantum.qubits",
        ),
        (
            request(BELL, extensions_json=json.dumps({"resources": {"gpu": {"count": 1}}})),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "resources.gpu.count",
        ),
    ]
    for job, code, field in refusals:
        with pytest.raises(grpc.RpcError) as caught:
            submit(jobs, job)
        assert caught.value.code() is code, caught.value.details()
        assert any(name.endswith(field) for name in details(caught.value)[1]), details(caught.value)
    accepted, _ = run(jobs, request(VQE, workload="HybridWorkflow", shots=0))
    assert accepted.workload == "HybridWorkflow"
