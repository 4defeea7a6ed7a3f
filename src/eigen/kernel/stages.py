"""PipelineJob stages in the kernel: inputs checked at submission, bound at the start of
the run, outputs published with the results (the stage itself is :mod:`eigen.models.pipeline`).

* **Submission** (:func:`check_stage`, with the dependency checks): every input names a stage
  of the submitter's tenant (another tenant's job reads as a missing one) that publishes
  the output asked for; an input written as an output ref is looked up among the stages
  depended on (exactly one must publish it). The stage's outputs must be ones its program
  can publish (:func:`check_outputs`: ``energy`` and ``optimal_parameters`` need a hybrid
  program, ``expectation_values`` a hybrid program or observables). Each mistake is
  INVALID_ARGUMENT naming ``spec.workload.pipeline.<field>[i]``.
* **Start** (:func:`bind`, once the stages upstream are DONE): each input's artifact is read
  from its stage's folder; the parameter values among them (``optimal_parameters``,
  ``parameters``, a bundle's ``parameters``) are this stage's parameter binding (a circuit:
  under each of its own bindings, which win; with none, the one binding) or, for a hybrid
  stage, its optimiser's starting point. An output that is not there (removed since) is
  FAILED_PRECONDITION naming the input, a value that is not one of the stage's parameters
  INVALID_ARGUMENT naming it: the stage ends in ERROR with it.
* **End** (:func:`publish`): each output is one artifact ``output.<name>.json`` of the
  stage's job (``{"ref", "kind", "job_id", "stage_id", "value"}``), written with its
  ``results.json``, so a DONE stage always has its outputs; its result's
  ``summary["pipeline"]`` records the stage, what it read and what it published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from eigen.errors import EigenError, FailedPrecondition, InvalidArgument, NotFound, quote
from eigen.kernel.qfs.artifacts import Artifact, ArtifactStore
from eigen.kernel.store.base import JobStore
from eigen.models.compiled import RETURNED_KEY, RETURNS_KEY, CompiledProgram
from eigen.models.job import Job, JobRequest
from eigen.models.pipeline import (
    BUNDLE,
    FIELD,
    HYBRID_ONLY,
    OUTPUT_KINDS,
    FailureSemantics,
    InputRef,
    OutputKind,
    Stage,
    check_upstream,
    output_file,
    output_kind,
    stage_of,
)
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.workload import WorkloadKind

LINEAGE_KEY = "pipeline"
STRICT = (OutputKind.PARAMETERS, OutputKind.OPTIMAL_PARAMETERS)  # values meant to bind


@dataclass(frozen=True)
class Source:
    """An input resolved: the stage that publishes it and which of its outputs."""

    input: InputRef
    job_id: str
    output: str

    @property
    def kind(self) -> OutputKind:
        return output_kind(self.output)

    @property
    def file(self) -> str:
        return output_file(self.output)


def stage(request: JobRequest) -> Stage | None:
    """The stage of a PipelineJob request (None for any other kind)."""
    if request.workload is not WorkloadKind.PIPELINE_JOB:
        return None
    return stage_of(request.extensions)


def takes_inputs(request: JobRequest) -> bool:
    found = stage(request)
    return found is not None and bool(found.inputs)


# -- submission -----------------------------------------------------------------------------
def check_stage(store: JobStore, request: JobRequest, tenant: str) -> None:
    """The submission checks of the module docstring against the store (the stages
    ``depends_on`` names too, so that a missing one is named by its field)."""
    found = stage(request)
    if found is None:
        return
    for index, job_id in enumerate(found.depends_on):
        upstream = store.get(job_id)
        if upstream is None or upstream.tenant != tenant:
            raise InvalidArgument.for_field(f"{FIELD}.depends_on[{index}]", f"no job {job_id!r}")
    sources(store, request, tenant)


def sources(store: JobStore, request: JobRequest, tenant: str) -> list[Source]:
    """Where each input of ``request`` (a stage of ``tenant``) comes from, in order."""
    found = stage(request)
    if found is None or not found.inputs:
        return []
    cache: dict[str, Stage | None] = {}

    def upstream(job_id: str) -> Stage | None:
        """The stage ``job_id`` is, None when it is no PipelineJob; NotFound when missing."""
        if job_id not in cache:
            job = store.get(job_id)
            if job is None or job.tenant != tenant:
                raise NotFound(job_id)
            cache[job_id] = stage(job.request)
        return cache[job_id]

    return [_source(item, request, upstream) for item in found.inputs]


def _source(item: InputRef, request: JobRequest, upstream: Any) -> Source:
    if item.job_id is None:
        return _among_dependencies(item, request, upstream)
    try:
        publisher = upstream(item.job_id)
    except NotFound:
        raise InvalidArgument.for_field(item.field, f"no job {item.job_id!r}") from None
    if publisher is None or not publisher.outputs:
        what = "is not a PipelineJob stage" if publisher is None else "declares no output_refs"
        raise InvalidArgument.for_field(item.field, f"job {item.job_id} {what}: it publishes no outputs")
    if item.output is None:
        handoff = publisher.handoff()
        if handoff is None:
            raise InvalidArgument.for_field(
                item.field,
                f"job {item.job_id} has no handoff_ref and {len(publisher.outputs)} outputs: name one as "
                f"job:{item.job_id}/<output> (its outputs: {_listed(publisher.outputs)})",
            )
        return Source(item, item.job_id, handoff)
    output = publisher.output_named(item.output, by_file=item.by_file)
    if output is None:
        shown = [output_file(o) for o in publisher.outputs] if item.by_file else publisher.outputs
        raise InvalidArgument.for_field(
            item.field,
            f"job {item.job_id} publishes no output {quote(item.output)} (its outputs: {_listed(shown)})",
        )
    return Source(item, item.job_id, output)


def _among_dependencies(item: InputRef, request: JobRequest, upstream: Any) -> Source:
    """An input written as an output ref: the one stage depended on that publishes it."""
    assert item.output is not None
    found: list[str] = []
    known: list[str] = []
    for job_id in request.dependencies:
        try:
            publisher = upstream(job_id)
        except NotFound:
            continue  # the dependency check names it
        outputs = publisher.outputs if publisher is not None else ()
        known.append(f"job {job_id}: {_listed(outputs)}")
        if item.output in outputs:
            found.append(job_id)
    if len(found) == 1:
        return Source(item, found[0], item.output)
    if found:
        raise InvalidArgument.for_field(
            item.field,
            f"{quote(item.output)} is an output of several stages ({', '.join(found)}): "
            "write it as job:<id>/<output>",
        )
    where = "; ".join(known) if known else "this stage depends on none (depends_on)"
    raise InvalidArgument.for_field(
        item.field,
        f"{quote(item.ref)} is not an output of a stage this one depends on ({where}); "
        "name it as job:<id>/<output> or list its stage in depends_on",
    )


def _listed(names: Sequence[str]) -> str:
    return ", ".join(quote(name) for name in names) if names else "none"


def check_outputs(request: JobRequest, checked: CompiledProgram) -> None:
    """Each output is one the program can publish, and an input written as an output ref
    has stages to be looked up among (INVALID_ARGUMENT naming it)."""
    found = stage(request)
    if found is None:
        return
    check_upstream(found, request.dependencies)
    hybrid = checked.hybrid is not None
    for index, ref in enumerate(found.outputs):
        kind = output_kind(ref)
        field = f"{FIELD}.output_refs[{index}]"
        if kind in HYBRID_ONLY and not hybrid:
            raise InvalidArgument.for_field(
                field,
                f"{quote(ref)} publishes {kind.value}, which only a hybrid program has (ExpectationValue "
                "and minimize); this program is a plain circuit",
            )
        if kind is OutputKind.EXPECTATION_VALUES and not hybrid and not request.observables:
            raise InvalidArgument.for_field(
                field, f"{quote(ref)} publishes expectation values: give observables or a hybrid program"
            )


def tolerated(store: JobStore, job: Job) -> set[str]:
    """The dependencies of ``job`` whose failure does not fail it: with ``failure_semantics:
    continue``, those it reads no input from (none when the inputs cannot be resolved)."""
    found = stage(job.request)
    if found is None or found.failure is not FailureSemantics.CONTINUE:
        return set()
    try:
        readers = {source.job_id for source in sources(store, job.request, job.tenant)}
    except EigenError:
        return set()
    return set(job.request.dependencies) - readers


# -- start of the run -----------------------------------------------------------------------
def bind(
    job: Job, compiled: CompiledProgram, store: JobStore, artifacts: ArtifactStore
) -> tuple[Job, dict[str, Any]]:
    """``job`` with its inputs bound (see the module docstring), and the lineage to record
    (empty for a job that is not a stage)."""
    found = stage(job.request)
    if found is None:
        return job, {}
    read = []
    merged: dict[str, float] = {}
    origin: dict[str, str] = {}
    for source in sources(store, job.request, job.tenant):
        value = _read(source, store, artifacts)
        values = _parameters(source, value, compiled)
        for name, number in values.items():
            if name in merged and merged[name] != number:
                raise InvalidArgument.for_field(
                    source.input.field,
                    f"gives parameter {quote(name)} = {number}, but {origin[name]} gave {merged[name]}",
                )
            merged[name], origin[name] = number, source.input.ref
        read.append(
            {"ref": source.input.ref, "job_id": source.job_id, "output": source.output, "file": source.file}
        )
    request = job.request
    if merged:
        if compiled.hybrid is not None:
            bindings = [merged]  # the optimiser's starting point (eigen.kernel.hybrid.runner)
        else:
            defaults = {k: v for k, v in compiled.defaults.items() if k in compiled.parameters}
            bindings = [{**defaults, **merged, **own} for own in (request.parameter_bindings or [{}])]
        request = request.model_copy(update={"parameter_bindings": bindings})
    lineage = {
        "stage_id": found.stage_id or request.name,
        "inputs": read,
        "parameters": merged,
        "depends_on": list(request.dependencies),
        "failed_upstream": _failed_upstream(store, request.dependencies),
        "failure_semantics": found.failure.value,
        "source_ref": found.source_ref,
    }
    return (replace(job, request=request) if request is not job.request else job), lineage


def _read(source: Source, store: JobStore, artifacts: ArtifactStore) -> Any:
    head = store.head(source.job_id)
    if head is None or head[0] is not JobState.DONE:
        state = head[0].value if head is not None else "gone"
        raise FailedPrecondition.for_field(
            source.input.field,
            f"job {source.job_id} is {state}: its output {quote(source.output)} was never published",
        )
    try:
        data = json.loads(artifacts.get(source.job_id, source.file))
    except NotFound:
        raise FailedPrecondition.for_field(
            source.input.field,
            f"job {source.job_id} has no stored output {quote(source.output)} ({source.file}): "
            "removed since it ran",
        ) from None
    except ValueError:
        raise FailedPrecondition.for_field(
            source.input.field, f"the output {source.file} of job {source.job_id} is not JSON"
        ) from None
    return data.get("value") if isinstance(data, dict) else None


def _parameters(source: Source, value: Any, compiled: CompiledProgram) -> dict[str, float]:
    """The parameter values an input carries into the stage: an output of parameters binds
    every value (each must be one of the stage's parameters); a bundle binds the ones the
    stage has; other outputs bind nothing (they are read and recorded)."""
    kind = source.kind
    if kind is BUNDLE:
        given = value.get("parameters") if isinstance(value, dict) else None
        if not isinstance(given, dict):
            return {}
        return {k: float(v) for k, v in given.items() if k in compiled.parameters and _number(v)}
    if kind not in STRICT:
        return {}
    where = f"job {source.job_id}'s output {quote(source.output)}"
    if not isinstance(value, dict) or not all(_number(v) for v in value.values()):
        many = f"{len(value)} bindings" if isinstance(value, list) else "no map of parameter values"
        raise InvalidArgument.for_field(source.input.field, f"{where} is {many}, not one binding")
    unknown = [name for name in value if name not in compiled.parameters]
    if unknown:
        have = ", ".join(compiled.parameters) or "no parameters"
        raise InvalidArgument.for_field(
            source.input.field,
            f"{where} gives {', '.join(quote(n) for n in unknown)}, not a parameter of this stage's "
            f"program (it has: {have})",
        )
    return {name: float(number) for name, number in value.items()}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _failed_upstream(store: JobStore, dependencies: Sequence[str]) -> list[str]:
    heads = {job_id: store.head(job_id) for job_id in dependencies}
    return [job_id for job_id, head in heads.items() if head is None or head[0] is not JobState.DONE]


def start_point(request: JobRequest) -> Mapping[str, float]:
    """A hybrid stage's starting point from its inputs ({} for any other job)."""
    if request.workload is not WorkloadKind.PIPELINE_JOB or not request.parameter_bindings:
        return {}
    return request.parameter_bindings[0]


# -- end of the run -------------------------------------------------------------------------
def publish(job: Job, result: JobResult, lineage: dict[str, Any]) -> list[Artifact]:
    """The artifacts of a stage's outputs, and its lineage in ``result.summary``."""
    found = stage(job.request)
    if found is None:
        return []
    stage_id = lineage.get("stage_id") or found.stage_id or job.request.name
    outputs = []
    artifacts = []
    for ref in found.outputs:
        kind = output_kind(ref)
        value = output_value(kind, result)
        outputs.append({"ref": ref, "kind": kind.value, "file": output_file(ref)})
        document = {"ref": ref, "kind": kind.value, "job_id": job.id, "stage_id": stage_id, "value": value}
        artifacts.append(Artifact.json(job.id, output_file(ref), document))
    result.summary[LINEAGE_KEY] = {
        **lineage,
        "stage_id": stage_id,
        "outputs": outputs,
        "handoff_ref": found.handoff(),
    }
    return artifacts


def output_value(kind: OutputKind, result: JobResult) -> Any:
    """What an output of ``kind`` publishes from ``result``."""
    summary = result.summary
    experiments = result.experiments
    hybrid = "optimal_parameters" in summary
    if kind is OutputKind.COUNTS:
        return [dict(e.counts) for e in experiments]
    if kind is OutputKind.EXPECTATION_VALUES:
        if hybrid:
            return summary.get("expectation_values")
        values = [list(e.expectation_values) for e in experiments]
        return values if any(values) else []
    if kind is OutputKind.ENERGY:
        return summary.get("energy")
    if kind is OutputKind.OPTIMAL_PARAMETERS:
        return summary.get("optimal_parameters")
    if kind is OutputKind.PARAMETERS:
        if hybrid:
            return summary.get("optimal_parameters")
        bindings = [dict(e.bindings) for e in experiments]
        return bindings[0] if len(bindings) == 1 else bindings
    if kind is OutputKind.RETURNS:
        return summary.get(RETURNS_KEY, summary.get(RETURNED_KEY))
    bundle = {name: output_value(OutputKind(name), result) for name in OUTPUT_KINDS}
    return {name: value for name, value in bundle.items() if value not in (None, [], {})}
