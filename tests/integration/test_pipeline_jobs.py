"""PipelineJob through a real server's gRPC API, on its real SQLite store and artifact
folder: three stages hand artifacts along (a VQE's optimal parameters bind the next stage's
circuit, whose parameters bind the third's), each output an artifact of its stage's job;
bad refs are refused at submit naming the field; a failed stage fails the later ones with
the reason, unless a stage says ``failure_semantics: continue`` and reads nothing of it; an
output gone before its reader starts ends the reader in ERROR naming the ref."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
import pytest

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding
from tests.integration.helpers import BELL, details, submit, wait
from tests.integration.pipeline_stages import EXACT, OPTIMAL, energy_check, sampling, stage, vqe

pytestmark = pytest.mark.integration

FAILED = "EIGEN_DEPENDENCY_FAILED"


def ended(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> pb.Job:
    wait(stub, job_id)
    return stub.GetJob(jobs_pb2.GetJobRequest(job_id=job_id))


def summary(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> dict[str, Any]:
    results = stub.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=job_id))
    found: dict[str, Any] = json.loads(results.summary_json)
    return found


def output(server: EmbeddedServer, job_id: str, file: str) -> dict[str, Any]:
    """A published output, read from the stage's artifact folder."""
    stored: dict[str, Any] = json.loads(
        (Path(server.settings.data_dir) / "artifacts" / job_id / file).read_text()
    )
    return stored


def test_a_pipeline_of_three_stages_hands_artifacts_along(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    first = submit(jobs, vqe())
    second = submit(jobs, energy_check(first.id))  # submitted at once: they wait their turn
    third = submit(jobs, sampling(second.id))
    final = [ended(jobs, job.id) for job in (first, second, third)]
    assert [job.state for job in final] == [pb.JOB_STATE_DONE] * 3, [j.error_summary for j in final]
    assert final[1].started_at.ToNanoseconds() >= final[0].finished_at.ToNanoseconds()
    assert final[2].started_at.ToNanoseconds() >= final[1].finished_at.ToNanoseconds()

    optimum = summary(jobs, first.id)["optimal_parameters"]
    published = output(server, first.id, "output.pipeline_h2_vqe_optimal_parameters.json")
    assert published == {
        "ref": OPTIMAL,
        "kind": "optimal_parameters",
        "job_id": first.id,
        "stage_id": "vqe",
        "value": optimum,
    }
    assert output(server, first.id, "output.energy.json")["value"] == pytest.approx(EXACT, abs=1e-6)

    check = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=second.id))
    assert dict(check.experiments[0].bindings) == optimum  # the VQE's optimum, bound by name
    assert check.experiments[0].expectation_values[0] == pytest.approx(EXACT, abs=1e-6)
    lineage = json.loads(check.summary_json)["pipeline"]
    assert lineage["stage_id"] == "check" and lineage["parameters"] == optimum
    assert lineage["inputs"] == [
        {
            "ref": OPTIMAL,
            "job_id": first.id,
            "output": OPTIMAL,
            "file": "output.pipeline_h2_vqe_optimal_parameters.json",
        }
    ]
    assert output(server, second.id, "output.parameters.json")["value"] == optimum

    sampled = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=third.id))
    assert dict(sampled.experiments[0].bindings) == optimum  # the check stage's handoff
    counts = dict(sampled.experiments[0].counts)
    assert sum(counts.values()) == 4000
    assert output(server, third.id, "output.counts.json")["value"] == [counts]
    assert json.loads(sampled.summary_json)["pipeline"]["inputs"][0]["output"] == "parameters"


def refusal(stub: jobs_pb2_grpc.JobServiceStub, request: pb.JobRequest) -> tuple[str, list[str], str]:
    with pytest.raises(grpc.RpcError) as caught:
        submit(stub, request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    reason, fields = details(caught.value)
    return reason, fields, caught.value.details() or ""


def test_bad_refs_are_refused_at_submit_with_the_field_named(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    plain = submit(jobs, stage(BELL, {"output_refs": ["counts"]}, shots=100))
    not_a_stage = submit(jobs, pb.JobRequest(program=pb.Program(source=BELL), shots=100))
    cases = [
        (
            {"input_refs": ["job:no-such-stage/counts"]},
            "input_refs[0]",
            "no job 'no-such-stage'",
        ),
        ({"input_refs": [f"job:{plain.id}/energy"]}, "input_refs[0]", "publishes no output 'energy'"),
        (
            {"input_refs": [f"qfs://{plain.id}/output.energy.json"]},
            "input_refs[0]",
            "(its outputs: 'output.counts.json')",
        ),
        ({"input_refs": [f"job:{not_a_stage.id}"]}, "input_refs[0]", "is not a PipelineJob stage"),
        (
            {"input_refs": ["qfs://pipeline/elsewhere/counts"]},
            "input_refs[0]",
            "is not an output of a stage this one depends on",
        ),
        (
            {"depends_on": [plain.id], "input_refs": ["qfs://pipeline/elsewhere/counts"]},
            "input_refs[0]",
            f"job {plain.id}: 'counts'",
        ),
        ({"output_refs": ["energy"]}, "output_refs[0]", "only a hybrid program has"),
        ({"output_refs": ["expectation_values"]}, "output_refs[0]", "give observables"),
        ({"depends_on": ["job:no/such"]}, "depends_on[0]", "is not a job id"),
        ({"output_refs": ["a"], "handoff_ref": "b"}, "handoff_ref", "must be one of output_refs"),
        ({"failure_semantics": "sometimes"}, "failure_semantics", "must be one of"),
    ]
    for pipeline, field, words in cases:
        reason, fields, message = refusal(jobs, stage(BELL, pipeline, shots=100))
        assert reason == "EIGEN_INVALID_ARGUMENT", pipeline
        assert fields == [f"spec.workload.pipeline.{field}"], (pipeline, fields)
        assert words in message, (pipeline, message)
    reason, fields, message = refusal(jobs, stage(BELL, {"depends_on": ["no-such-stage"]}, shots=100))
    assert fields == ["spec.workload.pipeline.depends_on[0]"] and "no job 'no-such-stage'" in message


def test_a_failed_stage_fails_the_later_ones_with_the_reason(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    with holding(server) as held:
        slow = submit(jobs, pb.JobRequest(program=pb.Program(source=BELL), target=HELD, shots=10))
        held.wait_held()
        first = submit(jobs, stage(BELL, {"depends_on": [slow.id], "output_refs": ["counts"]}, shots=100))
        second = submit(
            jobs, stage(BELL, {"input_refs": [f"job:{first.id}"], "output_refs": ["counts"]}, shots=100)
        )
        third = submit(jobs, stage(BELL, {"input_refs": [f"job:{second.id}/counts"]}, shots=100))
        tolerant = submit(
            jobs,
            stage(BELL, {"depends_on": [first.id, slow.id], "failure_semantics": "continue"}, shots=100),
        )
        reader = submit(
            jobs, stage(BELL, {"input_refs": [f"job:{first.id}"], "failure_semantics": "continue"}, shots=100)
        )
        cancelled = jobs.CancelJob(jobs_pb2.CancelJobRequest(job_id=first.id))
        assert cancelled.state == pb.JOB_STATE_CANCELLED
        failed = ended(jobs, second.id)
        assert (failed.state, failed.error_code) == (pb.JOB_STATE_ERROR, FAILED)
        assert failed.error_summary == f"dependency {first.id} ended in CANCELLED"
        later = ended(jobs, third.id)
        assert (later.error_code, later.error_summary) == (FAILED, f"dependency {second.id} ended in ERROR")
        failed_reader = ended(jobs, reader.id)
        assert (failed_reader.error_code, failed_reader.error_summary) == (
            FAILED,
            f"dependency {first.id} ended in CANCELLED",
        )
        waiting = jobs.GetJob(jobs_pb2.GetJobRequest(job_id=tolerant.id))
        assert json.loads(waiting.progress_json)["waiting_for"] == [slow.id]  # the failed one settled
    went_on = ended(jobs, tolerant.id)
    assert went_on.state == pb.JOB_STATE_DONE, went_on.error_summary
    assert summary(jobs, tolerant.id)["pipeline"]["failed_upstream"] == [first.id]


def test_an_output_gone_before_its_reader_starts_ends_it_naming_the_ref(
    server: EmbeddedServer, jobs: jobs_pb2_grpc.JobServiceStub
) -> None:
    first = submit(jobs, stage(BELL, {"output_refs": ["counts"]}, shots=100))
    assert ended(jobs, first.id).state == pb.JOB_STATE_DONE
    (Path(server.settings.data_dir) / "artifacts" / first.id / "output.counts.json").unlink()
    reader = submit(jobs, stage(BELL, {"input_refs": [f"job:{first.id}/counts"]}, shots=100))
    failed = ended(jobs, reader.id)
    assert (failed.state, failed.error_code) == (pb.JOB_STATE_ERROR, "EIGEN_FAILED_PRECONDITION")
    assert failed.error_summary.startswith("spec.workload.pipeline.input_refs[0]: ")
    assert f"job {first.id} has no stored output 'counts'" in failed.error_summary


THETA = 'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] theta;\nqubit[1] q;\nry(theta) q[0];\n'


def test_parameters_a_stage_does_not_have_end_it_naming_the_input(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    first = submit(
        jobs,
        stage(
            THETA,
            {"output_refs": ["parameters"]},
            shots=100,
            parameter_bindings=[pb.ParameterBinding(values={"theta": 0.5})],
        ),
    )
    taker = submit(jobs, stage(THETA, {"input_refs": [f"job:{first.id}"]}, shots=100))
    other = submit(
        jobs, stage(THETA.replace("theta", "phi"), {"input_refs": [f"job:{first.id}/parameters"]}, shots=100)
    )
    assert ended(jobs, taker.id).state == pb.JOB_STATE_DONE
    taken = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=taker.id))
    assert dict(taken.experiments[0].bindings) == {"theta": 0.5}
    failed = ended(jobs, other.id)
    assert (failed.state, failed.error_code) == (pb.JOB_STATE_ERROR, "EIGEN_INVALID_ARGUMENT")
    assert failed.error_summary == (
        f"spec.workload.pipeline.input_refs[0]: job {first.id}'s output 'parameters' gives 'theta', "
        "not a parameter of this stage's program (it has: phi)"
    )


def test_a_hybrid_stage_starts_its_optimiser_from_its_input(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    first = submit(jobs, vqe())
    again = submit(jobs, vqe(input_refs=[f"job:{first.id}"], stage_id="refine"))
    assert [ended(jobs, j.id).state for j in (first, again)] == [pb.JOB_STATE_DONE] * 2
    before, after = summary(jobs, first.id), summary(jobs, again.id)
    assert after["pipeline"]["parameters"] == before["optimal_parameters"]
    assert after["start_energy"] == pytest.approx(before["energy"], abs=1e-9)  # not the program's start
    assert before["start_energy"] > after["start_energy"] + 0.1
