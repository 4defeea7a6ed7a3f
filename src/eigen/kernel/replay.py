"""ReplayJob: re-run a stored job from its stored artifacts with its recorded seed, and say
whether the replay matched the original bit for bit.

At submission (:func:`resolve_replay`) the job named by ``spec.metadata.replay_of`` (a job
id or ``qfs://<job id>``) must exist and have ended DONE with its result still stored; the
replay then takes the original's program (read from its QFS folder), language, entrypoint,
target, shots, parameter bindings, observables, options and optimisation level, and the
seed recorded in the original's result (the seed the driver really used, drawn or given).
Its own name, namespace, labels, annotations, priority, timeout and kept sections stay; its
workload stays ReplayJob and ``program_uri`` records where the program came from.

Compiling uses the seed the original was compiled with (:func:`transpile_seed`), so an
original that had no seed of its own compiles to the same circuit on a coupled device too.

When the replay finishes, :func:`compare` puts ``summary["replay"]`` in its result::

    {"of": <original id>, "matched": bool, "seed": <seed used>, "original_seed": <recorded>,
     "experiments": <count compared>, "differing_experiments": <count>,
     "differences": [{"experiment": i, "outcomes": <bitstrings whose counts differ>,
                      "examples": {bitstring: {"original": n, "replay": m}, ...}}, ...]}

Counts are compared exactly (and expectation values, float for float); ``differences``
holds at most :data:`MAX_DIFFERENCES` experiments, each with at most
:data:`MAX_EXAMPLES` example bitstrings.
"""

from __future__ import annotations

import re

from eigen.errors import EigenError, FailedPrecondition, InvalidArgument, quote
from eigen.kernel.program_ref import SCHEME, replaced, stored_job
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.qfs.programs import program_file, read_text
from eigen.kernel.store.base import JobStore
from eigen.kernel.store.retention import load_result
from eigen.models.job import JOB_ID_PATTERN, JobRequest
from eigen.models.result import Experiment, JobResult
from eigen.models.state import JobState
from eigen.models.workload import REPLAY_OF, WorkloadKind

REPLAY_FIELD = f"spec.metadata.{REPLAY_OF}"
MAX_DIFFERENCES = 5
MAX_EXAMPLES = 5
MAX_CHAIN = 64  # replays of replays followed back to the first job, at most
_JOB_ID = re.compile(JOB_ID_PATTERN)


def replayed_id(request: JobRequest) -> str | None:
    """The id of the job a ReplayJob replays (None for other kinds)."""
    if request.workload is not WorkloadKind.REPLAY_JOB:
        return None
    raw = request.options.get(REPLAY_OF, "").strip()
    job_id = raw.removeprefix(SCHEME).split("/", 1)[0] if raw.startswith(SCHEME) else raw
    if not _JOB_ID.match(job_id):
        raise InvalidArgument.for_field(REPLAY_FIELD, f"{quote(raw)} is not a job id")
    return job_id


def needs_replaying(request: JobRequest) -> bool:
    """A ReplayJob not yet resolved from its original (a resolved one carries the
    original's program, read from ``qfs://<original>/<program file>``)."""
    job_id = replayed_id(request)
    if job_id is None:
        return False
    uri = request.program_uri or ""
    return not (uri.startswith(f"{SCHEME}{job_id}/") and request.program.strip())


def resolve_replay(request: JobRequest, store: JobStore, artifacts: ArtifactStore, tenant: str) -> JobRequest:
    """The request a ReplayJob of ``tenant`` runs: the original's inputs and recorded seed
    (see the module docstring). FAILED_PRECONDITION when the original has not ended DONE
    or its result or program is no longer stored; NOT_FOUND when there is no such job in
    the tenant (another tenant's job is answered exactly as a missing one).
    Call it when :func:`needs_replaying` says so (before anything else changed the request)."""
    job_id = replayed_id(request)
    if job_id is None:
        return request
    original = stored_job(store, job_id, tenant, REPLAY_FIELD)
    if original.state is not JobState.DONE:
        raise FailedPrecondition.for_field(
            REPLAY_FIELD,
            f"job {job_id} is {original.state.value}: "
            "a ReplayJob replays a job that ended DONE with a result",
        )
    try:
        result = load_result(store, job_id)
    except EigenError as exc:  # no stored result, or removed by retention
        raise FailedPrecondition.for_field(
            REPLAY_FIELD, f"job {job_id} has no result to replay against ({exc.message})"
        ) from None
    source = original.request
    name = program_file(source.language)
    program = read_text(artifacts, job_id, name, REPLAY_FIELD, missing=FailedPrecondition)
    seed = result.seed if result.seed is not None else source.seed
    return replaced(
        request,
        REPLAY_FIELD,
        program=program,
        program_uri=f"{SCHEME}{job_id}/{name}",
        language=source.language,
        entrypoint=source.entrypoint,
        target=source.target,
        shots=source.shots,
        seed=seed,
        optimization_level=source.optimization_level,
        parameter_bindings=source.parameter_bindings,
        observables=source.observables,
        options={**source.options, REPLAY_OF: job_id},
        timeout_seconds=request.timeout_seconds or source.timeout_seconds,
        workload=WorkloadKind.REPLAY_JOB,
    )


def transpile_seed(request: JobRequest, store: JobStore) -> int | None:
    """The seed to compile ``request`` with: its own seed, but for a ReplayJob the seed
    the first job of its chain was compiled with (replays of replays followed back), so
    the replay compiles to the very circuit the original ran."""
    current = request
    for _ in range(MAX_CHAIN):
        try:
            job_id = replayed_id(current)
        except InvalidArgument:
            return current.seed
        original = store.get(job_id) if job_id is not None else None
        if original is None:
            return current.seed
        current = original.request
    return current.seed


def compare(of: str, original: JobResult, replay: JobResult) -> dict[str, object]:
    """``summary["replay"]``: whether ``replay`` matched ``original`` bit for bit, and the
    first few experiments that did not."""
    count = max(len(original.experiments), len(replay.experiments))
    differing = []
    for index in range(count):
        before = original.experiments[index] if index < len(original.experiments) else None
        after = replay.experiments[index] if index < len(replay.experiments) else None
        difference = _difference(index, before, after)
        if difference is not None:
            differing.append(difference)
    return {
        "of": of,
        "matched": not differing,
        "seed": replay.seed,
        "original_seed": original.seed,
        "experiments": count,
        "differing_experiments": len(differing),
        "differences": differing[:MAX_DIFFERENCES],
    }


def _difference(index: int, before: Experiment | None, after: Experiment | None) -> dict[str, object] | None:
    if before is None or after is None:
        return {"experiment": index, "missing_in": "original" if before is None else "replay"}
    if before.counts == after.counts and before.expectation_values == after.expectation_values:
        return None
    keys = before.counts.keys() | after.counts.keys()
    outcomes = sorted(key for key in keys if before.counts.get(key) != after.counts.get(key))
    found: dict[str, object] = {
        "experiment": index,
        "outcomes": len(outcomes),
        "examples": {
            key: {"original": before.counts.get(key, 0), "replay": after.counts.get(key, 0)}
            for key in outcomes[:MAX_EXAMPLES]
        },
    }
    if before.expectation_values != after.expectation_values:
        found["expectation_values"] = {
            "original": before.expectation_values[:MAX_EXAMPLES],
            "replay": after.expectation_values[:MAX_EXAMPLES],
        }
    return found
