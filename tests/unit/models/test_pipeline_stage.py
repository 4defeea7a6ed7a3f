"""A PipelineJob stage as data (eigen.models.pipeline): what its refs mean, where its outputs
are stored, and the mistakes refused with the field named, by every reader (JobSpec and
the wire's request alike)."""

from __future__ import annotations

from typing import Any

import pytest

from eigen.errors import InvalidArgument
from eigen.models.jobspec import validated_request
from eigen.models.pipeline import (
    BUNDLE,
    FailureSemantics,
    OutputKind,
    output_file,
    output_kind,
    parse_input,
    stage_of,
)
from eigen.models.program import ProgramLanguage

BELL = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\ncx q[0], q[1];\n'


def request(**pipeline: Any) -> Any:
    return validated_request(
        {
            "program": BELL,
            "language": ProgramLanguage.QASM3,
            "workload": "PipelineJob",
            "extensions": {"workload": {"kind": "PipelineJob", "pipeline": pipeline}},
        }
    )


def test_an_outputs_kind_is_its_last_part_else_the_bundle() -> None:
    assert output_kind("optimal_parameters") is OutputKind.OPTIMAL_PARAMETERS
    assert output_kind("qfs://pipeline/h2/vqe/energy") is OutputKind.ENERGY
    assert output_kind("qfs://pipeline/prepare/state") is BUNDLE
    assert (
        output_file("qfs://pipeline/h2/vqe/optimal_parameters")
        == "output.pipeline_h2_vqe_optimal_parameters.json"
    )
    assert output_file("counts") == "output.counts.json"
    assert output_file("///") == "output.output.json"


def test_input_refs_name_a_stage_or_an_output_of_one() -> None:
    by_job = parse_input("job:abc/qfs://pipeline/s1/counts", 0)
    assert (by_job.job_id, by_job.output, by_job.by_file) == ("abc", "qfs://pipeline/s1/counts", False)
    assert parse_input("job:abc", 1).output is None  # its handoff
    by_file = parse_input("qfs://abc/output.counts.json", 2)
    assert (by_file.job_id, by_file.output, by_file.by_file) == ("abc", "output.counts.json", True)
    plain = parse_input("qfs://pipeline/s1/state", 3)
    assert (plain.job_id, plain.output) == (None, "qfs://pipeline/s1/state")
    assert plain.field == "spec.workload.pipeline.input_refs[3]"


def test_a_stage_of_the_wire_waits_for_its_upstream_too() -> None:
    made = request(depends_on=["job:a1"], input_refs=["job:b2/energy", "job:a1"], output_refs=["counts"])
    assert made.dependencies == ["a1", "b2"]
    stage = stage_of(made.extensions)
    assert stage.upstream == ("a1", "b2") and stage.handoff() == "counts"
    assert stage.failure is FailureSemantics.FAIL
    assert stage_of(request(failure_semantics="Continue").extensions).failure is FailureSemantics.CONTINUE


@pytest.mark.parametrize(
    ("pipeline", "field", "words"),
    [
        ({"depends_on": ["not an id"]}, "depends_on[0]", "is not a job id"),
        ({"input_refs": ["job:"]}, "input_refs[0]", "job:<id>/<output>"),
        ({"input_refs": ["job:abc/"]}, "input_refs[0]", "job:<id>/<output>"),
        ({"output_refs": ["a", "a"]}, "output_refs[1]", "given twice"),
        ({"output_refs": ["x/y", "x_y"]}, "output_refs[1]", "output.x_y.json"),
        ({"output_refs": ["a"], "handoff_ref": "b"}, "handoff_ref", "must be one of output_refs"),
        ({"failure_semantics": "explode"}, "failure_semantics", "'continue'"),
        ({"input_refs": "a"}, "input_refs", "list"),
    ],
)
def test_mistakes_are_refused_naming_the_field(pipeline: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        request(**pipeline)
    named = [v.field for v in caught.value.violations]
    assert named == [f"spec.workload.pipeline.{field}"], named
    assert words in caught.value.message, caught.value.message
