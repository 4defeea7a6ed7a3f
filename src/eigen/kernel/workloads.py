"""What the kernel does for each workload kind (JobSpec 1.0 ``spec.workload.kind``).

At submission, in order:

1. :func:`resolve`: a program given by reference (``program_uri``) is read from QFS
   (:mod:`eigen.kernel.program_ref`); a ReplayJob takes its original's inputs and recorded
   seed (:mod:`eigen.kernel.replay`).
2. :func:`check_kind`, from the kernel's validation, once the compiler has read the
   program: a ``QuantumJob`` must be a plain circuit and a ``HybridWorkflow`` a hybrid
   program (``ExpectationValue`` / ``minimize``): one is never run as the other
   (INVALID_ARGUMENT on ``spec.workload.kind``); ``resources.quantum.qubits`` must fit
   the target (INVALID_ARGUMENT naming it); ``resources.gpu.count`` above 0 needs a target
   with GPUs, which no Eigen target has yet (RESOURCE_EXHAUSTED naming it); the noise model
   (``spec.metadata.noise_model``, else the program's) must be one the target can apply;
   each parameter binding of a plain circuit names exactly the circuit's parameters
   (:func:`check_bindings`), so a misspelt name is refused before a job exists rather
   than failing it after acceptance.

When a job has run, :func:`annotate` records in a BenchmarkJob's or ReplayJob's result
``summary["execution_context"]`` (:mod:`eigen.kernel.execution_context`), and in a
ReplayJob's ``summary["replay"]`` (whether it matched its original bit for bit).

A PipelineJob stage is checked here for the outputs it publishes, and its parameter bindings
only once its inputs are bound, at its start (:mod:`eigen.kernel.stages`). DistributedJob
never gets here: ``models.workload.check_workload`` refuses it (UNIMPLEMENTED) when the
request is made.
"""

from __future__ import annotations

import logging
from typing import Any

from eigen.errors import EigenError, FieldViolation, InvalidArgument, ResourceExhausted, quote
from eigen.kernel.execution_context import execution_context
from eigen.kernel.hybrid.settings import loop_settings, sweep_shots
from eigen.kernel.program_ref import needs_reading, resolve_program
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.replay import compare, needs_replaying, replayed_id, resolve_replay, transpile_seed
from eigen.kernel.stages import check_outputs, takes_inputs
from eigen.kernel.store.base import JobStore
from eigen.kernel.store.retention import load_result
from eigen.models.compiled import CompiledProgram
from eigen.models.job import JobRequest
from eigen.models.noise import NOISE_OPTION, check_noise, chosen_noise_model
from eigen.models.result import JobResult
from eigen.models.target import DeviceInfo
from eigen.models.workload import WorkloadKind

log = logging.getLogger(__name__)

KIND_FIELD = "spec.workload.kind"
QUBITS_FIELD = "resources.quantum.qubits"
GPU_FIELD = "resources.gpu.count"
RECORDS_CONTEXT = (WorkloadKind.BENCHMARK_JOB, WorkloadKind.REPLAY_JOB)


# -- submission ------------------------------------------------------------------------
def needs_resolving(request: JobRequest) -> bool:
    """Whether :func:`resolve` has anything to do (it reads files and the store)."""
    return needs_reading(request) or needs_replaying(request)


def resolve(request: JobRequest, store: JobStore, artifacts: ArtifactStore, tenant: str) -> JobRequest:
    """``request`` of a submitter of ``tenant`` with what it refers to read in: its program
    by uri, a ReplayJob's original inputs (only the tenant's own jobs are found). Unchanged
    when it refers to nothing."""
    replaying = needs_replaying(request)  # before the program is read in (that looks resolved)
    request = resolve_program(request, store, artifacts, tenant)
    return resolve_replay(request, store, artifacts, tenant) if replaying else request


def check_kind(request: JobRequest, device: DeviceInfo, checked: CompiledProgram) -> None:
    """The submission checks of the module docstring (2.), for a validated program."""
    hybrid = checked.hybrid is not None
    if request.workload is WorkloadKind.QUANTUM_JOB and hybrid:
        raise InvalidArgument.for_field(
            KIND_FIELD,
            "QuantumJob runs a plain circuit, but the program is a hybrid program (it uses "
            "ExpectationValue or minimize): submit it as HybridWorkflow",
        )
    if request.workload is WorkloadKind.HYBRID_WORKFLOW and not hybrid:
        raise InvalidArgument.for_field(
            KIND_FIELD,
            "HybridWorkflow runs a hybrid program, but the program is a plain circuit (no "
            "ExpectationValue or minimize): submit it as QuantumJob",
        )
    _check_resources(request.extensions.get("resources"), device)
    check_outputs(request, checked)
    if not hybrid and not takes_inputs(request):  # a stage's inputs bind at its start
        check_bindings(request.parameter_bindings, checked.parameters, checked.defaults)
    noise = chosen_noise_model(request.options, checked.decorator)
    if noise is not None:
        where = f"spec.metadata.{NOISE_OPTION}" if NOISE_OPTION in request.options else "program"
        check_noise(noise, device, job_shots(request, checked), where)


def check_bindings(
    bindings: list[dict[str, float]], parameters: list[str], defaults: dict[str, float]
) -> None:
    """Every binding names each of the circuit's ``parameters`` and nothing else (with no
    bindings, the Eigen-Lang ``Param`` defaults must cover them): one INVALID_ARGUMENT
    naming each bad binding and parameter."""
    have = ", ".join(parameters) or "no parameters"
    violations = []
    if not bindings:
        unbound = [name for name in parameters if name not in defaults]
        if unbound:
            names = ", ".join(quote(name) for name in unbound)
            violations.append(
                FieldViolation("parameter_bindings", f"no value for parameter {names}: give a binding")
            )
    for index, binding in enumerate(bindings):
        problems = [f"unknown parameter {quote(name)}" for name in binding if name not in parameters]
        problems += [f"missing parameter {quote(name)}" for name in parameters if name not in binding]
        if problems:
            violations.append(
                FieldViolation(
                    f"parameter_bindings[{index}]", f"{', '.join(problems)} (the circuit has: {have})"
                )
            )
    if violations:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        raise InvalidArgument(summary, violations)


def _check_resources(resources: Any, device: DeviceInfo) -> None:
    if not isinstance(resources, dict):
        return
    quantum = resources.get("quantum")
    qubits = _count(quantum.get("qubits") if isinstance(quantum, dict) else None, QUBITS_FIELD)
    if qubits is not None and qubits > device.num_qubits:
        raise InvalidArgument.for_field(
            QUBITS_FIELD, f"{qubits} qubits asked for, but {device.name} has {device.num_qubits}"
        )
    gpu = resources.get("gpu")
    gpus = _count(gpu.get("count") if isinstance(gpu, dict) else None, GPU_FIELD)
    available = device_gpus(device)
    if gpus is not None and gpus > available:
        have = "has no GPU" if available == 0 else f"has {available} GPUs"
        raise ResourceExhausted.for_field(GPU_FIELD, f"{gpus} GPUs asked for, but {device.name} {have}")


def device_gpus(device: DeviceInfo) -> int:
    """GPUs a target offers a job: none yet (every simulator runs on CPUs; a GPU
    simulator target would say so here)."""
    return 0


def _count(value: Any, field: str) -> int | None:
    """A whole number of the resources section (given as a number or its text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgument.for_field(field, "must be a whole number")
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except (TypeError, ValueError):
        number = None
    if number is None or number < 0:
        raise InvalidArgument.for_field(field, "must be a whole number, 0 or more")
    return number


def job_shots(request: JobRequest, checked: CompiledProgram) -> int:
    """The shots a job samples with (0: exact estimation), as it will run: what the noise
    check and the ``max_shots_per_job`` quota look at."""
    if checked.hybrid is not None:
        return loop_settings(request, checked).shots
    if request.observables:
        return sweep_shots(request, checked.decorator)
    if request.shots is not None:
        return request.shots
    return int(checked.decorator.get("shots", request.shots_or_default))


# -- after the run ----------------------------------------------------------------------
def annotate(
    request: JobRequest, compiled: CompiledProgram, device: DeviceInfo, result: JobResult, store: JobStore
) -> None:
    """Record the execution context (BenchmarkJob, ReplayJob) and the replay's comparison
    with its original (ReplayJob) in ``result.summary``."""
    if request.workload not in RECORDS_CONTEXT:
        return
    seed = transpile_seed(request, store)
    result.summary["execution_context"] = execution_context(request, compiled, device, result, seed)
    of = replayed_id(request)
    if of is None:
        return
    try:
        original = load_result(store, of)
    except EigenError as exc:  # e.g. removed by retention while the replay ran
        log.warning("replay has no original to compare with", extra={"job_id": result.job_id, "of": of})
        result.summary["replay"] = {"of": of, "matched": False, "seed": result.seed, "error": exc.message}
        return
    result.summary["replay"] = compare(of, original, result)
