"""A PipelineJob stage (JobSpec 1.0 ``spec.workload.pipeline``): what it publishes, what it
reads, what it waits for, as pure data (no I/O).

A stage is one job. ``depends_on`` names earlier stages (``<id>`` or ``job:<id>``): they
become the job's dependencies. ``output_refs`` name what the stage publishes when it ends
DONE, each as one artifact of its job (:func:`output_file`): an output ref whose last part
(after the last ``/``) is one of :data:`OUTPUT_KINDS` publishes that part of the result
(``optimal_parameters`` of a hybrid stage, its ``counts``...); any other ref
(``qfs://pipeline/prepare/state``) publishes the whole bundle (:data:`BUNDLE`).
``handoff_ref`` (one of the outputs) is what a later stage gets when it names the stage
alone. ``input_refs`` read earlier stages' outputs (:func:`parse_input`): ``job:<id>/<output>``,
``job:<id>`` (its handoff), ``qfs://<id>/output.<name>.json`` (the artifact), or an output
ref of one of the stages depended on, written as that stage wrote it. The stages an input
names by id are dependencies too. ``failure_semantics`` says what a failed upstream does:
``fail`` (the default: the stage ends in ERROR, EIGEN_DEPENDENCY_FAILED) or ``continue``
(it runs once every upstream has ended, unless it reads an output of the failed one).
``stage_id`` (default: the job's name), ``source_ref`` and ``replay`` are recorded.

What the kernel does with all this (checks against the store at submission, binding the
inputs at the start of the run, publishing the outputs) is :mod:`eigen.kernel.stages`'.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from eigen.errors import FieldViolation, InvalidArgument, quote
from eigen.models.jobspec_workload import Pipeline

FIELD = "spec.workload.pipeline"
JOB_PREFIX = "job:"
QFS_PREFIX = "qfs://"
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_FILE = re.compile(r"^output\.[A-Za-z0-9._-]{1,100}\.json$")


class OutputKind(StrEnum):
    """What an output publishes (named by the last part of its ref)."""

    COUNTS = "counts"  # a list of counts, one per experiment
    EXPECTATION_VALUES = "expectation_values"  # hybrid: {label: value}; a sweep: one list per experiment
    ENERGY = "energy"  # hybrid: the objective at the optimum
    OPTIMAL_PARAMETERS = "optimal_parameters"  # hybrid: {name: value}
    PARAMETERS = "parameters"  # the values the stage ran with (a hybrid stage: its optimum)
    RETURNS = "returns"  # what the program returns
    BUNDLE = "result"  # every one of the above the stage has, in one map


OUTPUT_KINDS = tuple(kind.value for kind in OutputKind if kind is not OutputKind.BUNDLE)
BUNDLE = OutputKind.BUNDLE
HYBRID_ONLY = (OutputKind.ENERGY, OutputKind.OPTIMAL_PARAMETERS)
PARAMETER_KINDS = (OutputKind.PARAMETERS, OutputKind.OPTIMAL_PARAMETERS, OutputKind.BUNDLE)


class FailureSemantics(StrEnum):
    FAIL = "fail"  # a failed upstream ends the stage in ERROR (EIGEN_DEPENDENCY_FAILED)
    CONTINUE = "continue"  # the stage runs once every upstream ended, unless it reads a failed one's output


FAILURE_SYNONYMS = {
    "fail": FailureSemantics.FAIL,
    "fail_fast": FailureSemantics.FAIL,
    "propagate": FailureSemantics.FAIL,
    "continue": FailureSemantics.CONTINUE,
    "continue_on_failure": FailureSemantics.CONTINUE,
    "ignore": FailureSemantics.CONTINUE,
}


@dataclass(frozen=True)
class InputRef:
    """One input as written: ``job_id`` when the ref names its stage, ``output`` the output
    asked for (an output ref, or an artifact file with ``by_file``; None: the handoff)."""

    ref: str
    index: int
    job_id: str | None
    output: str | None
    by_file: bool = False

    @property
    def field(self) -> str:
        return f"{FIELD}.input_refs[{self.index}]"


@dataclass(frozen=True)
class Stage:
    """The pipeline map of a PipelineJob, checked."""

    stage_id: str | None
    depends_on: tuple[str, ...]
    inputs: tuple[InputRef, ...]
    outputs: tuple[str, ...]
    handoff_ref: str | None
    failure: FailureSemantics
    source_ref: str | None

    @property
    def upstream(self) -> tuple[str, ...]:
        """The job ids the stage waits for: ``depends_on`` and the stages its inputs name."""
        named = [i.job_id for i in self.inputs if i.job_id is not None]
        return tuple(dict.fromkeys([*self.depends_on, *named]))

    def handoff(self) -> str | None:
        """The output a later stage gets by naming this one alone: ``handoff_ref``, else
        the only output."""
        if self.handoff_ref is not None:
            return self.handoff_ref
        return self.outputs[0] if len(self.outputs) == 1 else None

    def output_named(self, name: str, by_file: bool = False) -> str | None:
        """The output ref ``name`` stands for: the ref itself, its kind, or (``by_file``) its
        artifact file."""
        for ref in self.outputs:
            if (by_file and output_file(ref) == name) or (
                not by_file and name in (ref, output_kind(ref).value)
            ):
                return ref
        return None


def output_kind(ref: str) -> OutputKind:
    """What the output ``ref`` publishes: the kind its last part names, else the bundle."""
    last = ref.rstrip("/").rsplit("/", 1)[-1].removeprefix(JOB_PREFIX)
    return OutputKind(last) if last in OUTPUT_KINDS else BUNDLE


def output_file(ref: str) -> str:
    """The artifact an output is stored in: ``output.<ref as a file name>.json`` (the
    ``qfs://`` or ``job:`` prefix dropped, other characters than ``A-Za-z0-9._-`` as ``_``)."""
    text = ref.removeprefix(QFS_PREFIX).removeprefix(JOB_PREFIX)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:100].strip("._-") or "output"
    return f"output.{slug}.json"


def parse_input(ref: str, index: int) -> InputRef:
    """An input ref as written (see the module docstring); any ref is one of the forms."""
    if ref.startswith(JOB_PREFIX):
        job_id, slash, output = ref[len(JOB_PREFIX) :].partition("/")
        if not _JOB_ID.match(job_id) or (slash and not output):
            raise InvalidArgument.for_field(
                f"{FIELD}.input_refs[{index}]",
                f"{quote(ref)} must be job:<id> (its handoff) or job:<id>/<output>",
            )
        return InputRef(ref, index, job_id, output or None)
    if ref.startswith(QFS_PREFIX):
        job_id, _, name = ref[len(QFS_PREFIX) :].partition("/")
        if _JOB_ID.match(job_id) and _FILE.match(name):
            return InputRef(ref, index, job_id, name, by_file=True)
    return InputRef(ref, index, None, ref)  # an output ref of a stage depended on


def parse_failure(value: str | None) -> FailureSemantics:
    if value is None:
        return FailureSemantics.FAIL
    found = FAILURE_SYNONYMS.get(value.strip().lower())
    if found is None:
        raise InvalidArgument.for_field(
            f"{FIELD}.failure_semantics",
            f"must be one of {', '.join(repr(v) for v in FAILURE_SYNONYMS)}, got {quote(value)}",
        )
    return found


def pipeline_map(extensions: Mapping[str, Any]) -> Any:
    """The ``spec.workload.pipeline`` map a request keeps (None when none)."""
    workload = extensions.get("workload")
    return workload.get("pipeline") if isinstance(workload, Mapping) else None


def stage_of(extensions: Mapping[str, Any]) -> Stage:
    """The stage of a PipelineJob from its kept ``spec.workload`` (an empty stage when it
    has no pipeline map); INVALID_ARGUMENT naming the field of each mistake."""
    given = pipeline_map(extensions)
    if given is None:
        given = {}
    try:
        pipeline = Pipeline.model_validate(given)
    except ValidationError as exc:
        violations = [
            FieldViolation(".".join([FIELD, *(str(p) for p in err["loc"])]), str(err["msg"]))
            for err in exc.errors()
        ]
        raise InvalidArgument(
            "; ".join(f"{v.field}: {v.description}" for v in violations), violations
        ) from None
    depends_on = []
    for index, ref in enumerate(pipeline.depends_on or []):
        job_id = ref.removeprefix(JOB_PREFIX)
        if not _JOB_ID.match(job_id):
            raise InvalidArgument.for_field(
                f"{FIELD}.depends_on[{index}]", f"{quote(ref)} is not a job id (<id> or job:<id>)"
            )
        depends_on.append(job_id)
    outputs = tuple(pipeline.output_refs or [])
    files: dict[str, int] = {}
    for index, ref in enumerate(outputs):
        if ref in outputs[:index]:
            raise InvalidArgument.for_field(f"{FIELD}.output_refs[{index}]", f"{quote(ref)} is given twice")
        earlier = files.setdefault(output_file(ref), index)
        if earlier != index:
            raise InvalidArgument.for_field(
                f"{FIELD}.output_refs[{index}]",
                f"{quote(ref)} would be stored as {output_file(ref)}, as output_refs[{earlier}] is: "
                "rename one",
            )
    if pipeline.handoff_ref is not None and pipeline.handoff_ref not in outputs:
        raise InvalidArgument.for_field(
            f"{FIELD}.handoff_ref", f"{quote(pipeline.handoff_ref)} must be one of output_refs"
        )
    return Stage(
        stage_id=pipeline.stage_id,
        depends_on=tuple(dict.fromkeys(depends_on)),
        inputs=tuple(parse_input(ref, index) for index, ref in enumerate(pipeline.input_refs or [])),
        outputs=outputs,
        handoff_ref=pipeline.handoff_ref,
        failure=parse_failure(pipeline.failure_semantics),
        source_ref=pipeline.source_ref,
    )


def check_upstream(stage: Stage, dependencies: list[str]) -> None:
    """An input written as an output ref is looked up among the stages depended on: a stage
    that depends on none cannot have one (INVALID_ARGUMENT naming it)."""
    if dependencies:
        return
    for item in stage.inputs:
        if item.job_id is None:
            raise InvalidArgument.for_field(
                item.field,
                f"{quote(item.ref)} is not an output of a stage this one depends on (it depends on "
                "none): name it as job:<id>/<output> or list its stage in depends_on",
            )
