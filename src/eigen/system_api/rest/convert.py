"""Conversions between the REST bodies (:mod:`.schemas`) and Eigen's models.

The JSON twin of :mod:`eigen.proto.convert`: a request is resolved the same way (defaults,
language detection, one :func:`request_from_wire`) and its errors name the same fields
(``job.shots``, ``jobs[1].program.source``).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from eigen.errors import InvalidArgument, quote
from eigen.models.chunks import Chunk
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.jobspec import request_from_wire
from eigen.models.placement import Placement
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult
from eigen.models.session import Session
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus
from eigen.system_api.rest import schemas as rest

LANGUAGE_TO_REST = {
    ProgramLanguage.QASM2: rest.ProgramLanguage.QASM2,
    ProgramLanguage.QASM3: rest.ProgramLanguage.QASM3,
    ProgramLanguage.EIGEN_LANG: rest.ProgramLanguage.EIGEN_LANG,
    ProgramLanguage.AQO: rest.ProgramLanguage.AQO,
}
LANGUAGE_FROM_REST = {value: language for language, value in LANGUAGE_TO_REST.items()}
STATUS_TO_REST = {status: rest.BackendStatus(status.value) for status in DeviceStatus}


# -- scalars ---------------------------------------------------------------------------
def timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def seconds_from_text(field: str, text: str) -> float:
    """Unix seconds from RFC 3339 (``2025-01-31T12:00:00Z``) or a number of seconds."""
    try:
        value = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise InvalidArgument.for_field(field, "must be an RFC 3339 timestamp or unix seconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    if not math.isfinite(value):
        raise InvalidArgument.for_field(field, "must be a finite number of seconds")
    return value


def labels_from_pairs(field: str, pairs: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgument.for_field(field, f"{quote(pair)} is not key=value")
        labels[key] = value
    return labels


# -- requests --------------------------------------------------------------------------
def request_from_rest(body: rest.JobRequest, field_prefix: str = "job") -> JobRequest:
    """Validate a JobRequest body; errors name fields as ``job.<field>``."""
    return request_from_wire(
        source=body.program.source,
        language=LANGUAGE_FROM_REST.get(body.program.language),
        entrypoint=body.program.entrypoint,
        name=body.name,
        target=body.target,
        scalars={
            name: getattr(body, name)
            for name in ("shots", "seed", "optimization_level", "priority", "timeout_seconds")
        },
        labels=dict(body.labels),
        options=dict(body.options),
        dependencies=list(body.dependencies),
        bindings=[dict(b.values) for b in body.parameter_bindings],
        observables=[{t.pauli: t.coefficient for t in o.terms} for o in body.observables],
        field_prefix=field_prefix,
        namespace=body.namespace,
        annotations=dict(body.annotations),
        workload=body.workload,
        extensions=dict(body.extensions),
        program_uri=body.program.uri,
        outputs=[o.value for o in body.outputs],
        session_id=body.session_id,
    )


def batch_from_rest(body: rest.SubmitBatchRequest) -> list[JobRequest]:
    """Every item validated; the first bad one is named ``jobs[i].<field>``."""
    if not body.jobs:
        raise InvalidArgument.for_field("jobs", "a batch needs at least one job")
    return [request_from_rest(job, f"jobs[{index}]") for index, job in enumerate(body.jobs)]


# -- jobs, events, results -------------------------------------------------------------
def job_to_rest(job: Job) -> rest.Job:
    return rest.Job(
        id=job.id,
        name=job.request.name,
        state=rest.JobState(job.state.value),
        target=job.request.target,
        priority=job.request.priority,
        shots=job.request.shots_or_default,
        language=LANGUAGE_TO_REST[job.request.language],
        created_at=timestamp(job.created_at),
        updated_at=timestamp(job.updated_at),
        started_at=timestamp(job.started_at),
        finished_at=timestamp(job.finished_at),
        error_code=job.error_code or "",
        error_summary=job.error_summary or "",
        labels=dict(job.request.labels),
        timings=dict(job.timings),
        attempt=job.attempt,
        last_event_seq=job.last_seq,
        owner=job.owner,
        tenant=job.tenant,
        progress=dict(job.progress),
        result_expired_at=timestamp(job.result_expired_at),
        namespace=job.request.namespace,
        annotations=dict(job.request.annotations),
        workload=job.request.workload.value if job.request.workload else "",
        extensions=dict(job.request.extensions),
        program_uri=job.request.program_uri or "",
        worker=job.worker_id or "",
        lease_expires_at=timestamp(None if job.terminal else job.lease_expires_at),
        placement=placement_to_rest(job.placement),
    )


def placement_to_rest(placement: Placement | None) -> rest.QueuePlacement | None:
    if placement is None:
        return None
    return rest.QueuePlacement(
        stage=placement.stage.value,
        device=placement.device,
        position=placement.position,
        slots=placement.slots,
        estimated_start=datetime.fromtimestamp(placement.estimated_start, UTC),
        reason=placement.reason,
    )


def session_to_rest(session: Session) -> rest.Session:
    return rest.Session(
        id=session.id,
        tenant=session.tenant,
        owner=session.owner,
        target=session.target,
        state=session.state.value,
        created_at=datetime.fromtimestamp(session.created_at, UTC),
        max_time_s=session.max_time_s,
        idle_s=session.idle_s,
        last_activity_at=datetime.fromtimestamp(session.last_activity_at, UTC),
        expires_at=datetime.fromtimestamp(session.expires_at, UTC),
        ended_at=timestamp(session.ended_at),
        reason=session.reason,
    )


def dead_letter_to_rest(letter: DeadLetter) -> rest.DeadLetter:
    return rest.DeadLetter(
        job_id=letter.job_id,
        tenant=letter.tenant,
        attempts=letter.attempts,
        reason=letter.reason,
        at=datetime.fromtimestamp(letter.at, UTC),
        last_worker=letter.last_worker or "",
    )


def event_to_rest(event: JobEvent) -> rest.JobEvent:
    return rest.JobEvent(
        job_id=event.job_id,
        event_seq=event.seq,
        state=rest.JobState(event.state.value),
        kind=event.kind,
        message=event.message,
        timestamp=timestamp(event.timestamp),
        data=dict(event.data),
        terminal=event.terminal,
    )


def experiment_to_rest(experiment: Experiment) -> rest.Experiment:
    return rest.Experiment(
        counts=dict(experiment.counts),
        shots=experiment.shots,
        bindings=dict(experiment.bindings),
        expectation_values=list(experiment.expectation_values),
        standard_errors=list(experiment.standard_errors),
        memory=list(experiment.memory),
        probabilities=list(experiment.probabilities),
        statevector=[(a.real, a.imag) for a in experiment.statevector],
    )


def result_to_rest(result: JobResult, state: JobState = JobState.DONE) -> rest.JobResults:
    return rest.JobResults(
        job_id=result.job_id,
        state=rest.JobState(state.value),
        backend=result.backend,
        experiments=[experiment_to_rest(e) for e in result.experiments],
        seed=result.seed,
        calibration_id=result.calibration_id,
        timings=dict(result.timings),
        compile_report=dict(result.compile_report),
        summary=dict(result.summary),
        engine=result.engine,
    )


def chunk_to_rest(job_id: str, chunk: Chunk) -> rest.ResultChunk:
    return rest.ResultChunk(
        job_id=job_id,
        index=chunk.index,
        total=chunk.total,
        is_final=chunk.is_final,
        partial=result_to_rest(chunk.result),
        experiment_indices=list(chunk.experiment_indices),
    )


# -- devices ---------------------------------------------------------------------------
def device_to_rest(device: DeviceInfo, queue_depth: int = 0) -> rest.Backend:
    return rest.Backend(
        name=device.name,
        num_qubits=device.num_qubits,
        basis_gates=list(device.basis_gates),
        coupling_map=[rest.CouplingEdge(control=a, target=b) for a, b in device.coupling_map or ()],
        max_shots=device.max_shots,
        max_circuits=device.max_circuits,
        status=STATUS_TO_REST[device.status],
        queue_depth=queue_depth,
        calibration_id=device.calibration_id,
        simulator=device.simulator,
        noisy=device.noisy,
        clifford_only=device.clifford_only,
        description=device.description,
        aliases=list(device.aliases),
    )


def calibration_to_rest(calibration: Calibration) -> rest.Calibration:
    return rest.Calibration(
        backend=calibration.device,
        calibration_id=calibration.calibration_id,
        taken_at=calibration.taken_at,
        qubits=list(calibration.qubits),
        gates=list(calibration.gates),
    )
