"""Conversions between protobuf messages and Eigen's models (used at every gRPC edge)."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from eigen.errors import InvalidArgument
from eigen.models.chunks import Chunk
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.limits import EXTENSIONS_BYTES_MAX
from eigen.models.outputs import DEFAULT_OUTPUTS
from eigen.models.placement import Placement, QueueStage
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.program import ProgramLanguage
from eigen.models.quota import Quota
from eigen.models.result import Experiment, JobResult
from eigen.models.session import SESSION_LABEL, Session, SessionState
from eigen.models.state import JobState
from eigen.models.state_memory import StateMemory
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus
from eigen.models.workload import WorkloadKind
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2

STATE_TO_PB = {state: pb.JobState.Value(f"JOB_STATE_{state.value}") for state in JobState}
STATE_FROM_PB = {value: state for state, value in STATE_TO_PB.items()}
LANGUAGE_TO_PB = {
    ProgramLanguage.QASM2: pb.PROGRAM_LANGUAGE_QASM2,
    ProgramLanguage.QASM3: pb.PROGRAM_LANGUAGE_QASM3,
    ProgramLanguage.EIGEN_LANG: pb.PROGRAM_LANGUAGE_EIGEN_LANG,
    ProgramLanguage.AQO: pb.PROGRAM_LANGUAGE_AQO,
}
LANGUAGE_FROM_PB = {value: language for language, value in LANGUAGE_TO_PB.items()}
STATUS_TO_PB = {
    DeviceStatus.ONLINE: pb.BACKEND_STATUS_ONLINE,
    DeviceStatus.OFFLINE: pb.BACKEND_STATUS_OFFLINE,
    DeviceStatus.MAINTENANCE: pb.BACKEND_STATUS_MAINTENANCE,
}
STATUS_FROM_PB = {value: status for status, value in STATUS_TO_PB.items()}
_WORKLOADS = frozenset(kind.value for kind in WorkloadKind)


# -- scalars ---------------------------------------------------------------------------
def timestamp(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    if seconds is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def seconds_of(stamp: timestamp_pb2.Timestamp) -> float:
    return stamp.ToNanoseconds() / 1e9


def struct(data: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    if data:
        message.update(_jsonable(data))  # what json_format.ParseDict builds, at half the cost
    return message


def list_value(items: list[Any]) -> struct_pb2.ListValue:
    message = struct_pb2.ListValue()
    message.extend(_jsonable(items))
    return message


def plain(message: struct_pb2.Struct | struct_pb2.ListValue) -> Any:
    """A Struct as a dict, a ListValue as a list: every number a float. Unlike
    ``json_format.MessageToDict``, an infinity or a NaN (a Struct holds them) is kept, not
    refused: a job's progress may hold one, and reading the job must not fail on it."""
    if isinstance(message, struct_pb2.ListValue):
        return [_plain_value(value) for value in message.values]
    return {key: _plain_value(value) for key, value in message.fields.items()}


def _plain_value(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "struct_value":
        return plain(value.struct_value)
    if kind == "list_value":
        return plain(value.list_value)
    if kind is None or kind == "null_value":
        return None
    return getattr(value, kind)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def json_text(data: dict[str, Any]) -> str:
    """``data`` as compact JSON text, "" when empty or when it holds a number JSON cannot
    (NaN, infinity): a reader then falls back to the Struct beside it, if any."""
    if not data:
        return ""
    try:
        return json.dumps(_jsonable(data), allow_nan=False, separators=(",", ":"))
    except ValueError:
        return ""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def extensions_from_json(text: str, field: str) -> dict[str, Any]:
    """The kept JobSpec sections from their JSON text (``extensions_json``): at most
    32 KiB, checked before parsing; not JSON, or not an object, is InvalidArgument."""
    if not text:
        return {}
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > EXTENSIONS_BYTES_MAX:
        raise InvalidArgument.for_field(
            field, f"is larger than {EXTENSIONS_BYTES_MAX // 1024} KiB ({size} bytes)"
        )
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise InvalidArgument.for_field(field, f"is not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(value, dict):
        raise InvalidArgument.for_field(field, f"must be a JSON object, not {type(value).__name__}")
    return value


def _stored_json(text: str) -> dict[str, Any]:
    """A JSON object the server wrote (a job's extensions, a summary); {} when unreadable."""
    try:
        value = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def preferred_json(text: str, fallback: struct_pb2.Struct) -> dict[str, Any]:
    """A mapping sent twice, as JSON text and as a Struct: the text when it is set and
    readable, since it keeps JSON types (an int stays an int, where the Struct turns every
    number into a double); else the Struct (an old peer, or a value JSON cannot hold)."""
    if text:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
    return plain(fallback)


# -- job requests ----------------------------------------------------------------------
def request_to_pb(request: JobRequest) -> pb.JobRequest:
    message = pb.JobRequest(
        name=request.name,
        program=pb.Program(
            source=request.program,
            language=LANGUAGE_TO_PB[request.language],
            entrypoint=request.entrypoint,
            uri=request.program_uri or "",
        ),
        target=request.target,
        priority=request.priority,
        labels=request.labels,
        options=request.options,
        dependencies=request.dependencies,
        namespace=request.namespace,
        annotations=request.annotations,
        workload=request.workload.value if request.workload else "",
        extensions_json=json_text(request.extensions),
        outputs=[] if request.outputs == DEFAULT_OUTPUTS else [o.value for o in request.outputs],
        session_id=request.session_id or "",
    )
    if request.shots is not None:
        message.shots = request.shots
    if request.seed is not None:
        message.seed = request.seed
    if request.optimization_level is not None:
        message.optimization_level = request.optimization_level
    if request.timeout_seconds is not None:
        message.timeout_seconds = request.timeout_seconds
    for binding in request.parameter_bindings:
        message.parameter_bindings.add(values=binding)
    for observable in request.observables:
        message.observables.add(terms=[pb.PauliTerm(pauli=k, coefficient=v) for k, v in observable.items()])
    return message


def request_from_pb(message: pb.JobRequest, field_prefix: str = "job") -> JobRequest:
    """Validate a JobRequest message; errors name fields as ``job.<field>``."""
    # The JobSpec reader on first use: a client that only reads jobs (eigen-cli status) never needs it.
    from eigen.models.jobspec import request_from_wire

    return request_from_wire(
        source=message.program.source,
        language=LANGUAGE_FROM_PB.get(message.program.language),
        entrypoint=message.program.entrypoint,
        name=message.name,
        target=message.target,
        scalars={
            name: getattr(message, name) if message.HasField(name) else None
            for name in ("shots", "seed", "optimization_level", "priority", "timeout_seconds")
        },
        labels=dict(message.labels),
        options=dict(message.options),
        dependencies=list(message.dependencies),
        bindings=[dict(b.values) for b in message.parameter_bindings],
        observables=[{t.pauli: t.coefficient for t in o.terms} for o in message.observables],
        field_prefix=field_prefix,
        namespace=message.namespace,
        annotations=dict(message.annotations),
        workload=message.workload,
        extensions=extensions_from_json(message.extensions_json, f"{field_prefix}.extensions_json"),
        program_uri=message.program.uri,
        outputs=list(message.outputs),
        session_id=message.session_id,
    )


# -- jobs, events, results -------------------------------------------------------------
def job_to_pb(job: Job) -> pb.Job:
    return pb.Job(
        id=job.id,
        name=job.request.name,
        state=STATE_TO_PB[job.state],
        target=job.request.target,
        priority=job.request.priority,
        shots=job.request.shots_or_default,
        language=LANGUAGE_TO_PB[job.request.language],
        created_at=timestamp(job.created_at),
        updated_at=timestamp(job.updated_at),
        started_at=timestamp(job.started_at),
        finished_at=timestamp(job.finished_at),
        error_code=job.error_code or "",
        error_summary=job.error_summary or "",
        labels=job.request.labels,
        timings=job.timings,
        attempt=job.attempt,
        last_event_seq=job.last_seq,
        owner=job.owner,
        tenant=job.tenant,
        progress=struct(job.progress),
        progress_json=json_text(job.progress),
        result_expired_at=timestamp(job.result_expired_at),
        namespace=job.request.namespace,
        annotations=job.request.annotations,
        workload=job.request.workload.value if job.request.workload else "",
        extensions_json=json_text(job.request.extensions),
        program_uri=job.request.program_uri or "",
        worker=job.worker_id or "",
        lease_expires_at=timestamp(None if job.terminal else job.lease_expires_at),
        placement=placement_to_pb(job.placement),
    )


def placement_to_pb(placement: Placement | None) -> pb.QueuePlacement | None:
    if placement is None:
        return None
    return pb.QueuePlacement(
        stage=placement.stage.value,
        device=placement.device,
        position=placement.position,
        slots=placement.slots,
        estimated_start=timestamp(placement.estimated_start),
        reason=placement.reason,
    )


def placement_from_pb(message: pb.Job) -> Placement | None:
    """The job's placement (None when the message has none, or one of a stage unknown here)."""
    if not message.HasField("placement") or message.placement.stage not in _STAGES:
        return None
    found = message.placement
    return Placement(
        stage=QueueStage(found.stage),
        device=found.device,
        position=found.position,
        slots=found.slots,
        estimated_start=seconds_of(found.estimated_start),
        reason=found.reason,
    )


_STAGES = frozenset(stage.value for stage in QueueStage)


def job_from_pb(message: pb.Job, request: JobRequest | None = None) -> Job:
    """A Job model from its public message (the remote kernel does not ship the program).

    Without ``request``, the request is rebuilt from what the message shows: everything a
    user reads back (namespace, annotations, workload, kept sections), a placeholder program."""
    placeholder = request or JobRequest(
        name=message.name or "job",
        namespace=message.namespace or "default",
        program="(stored by the kernel)",
        program_uri=message.program_uri or None,
        language=LANGUAGE_FROM_PB.get(message.language, ProgramLanguage.QASM3),
        target=message.target or "sim:statevector",
        shots=message.shots,
        priority=message.priority,
        labels=dict(message.labels),
        session_id=message.labels.get(SESSION_LABEL) or None,  # the job's session, as its label says
        annotations=dict(message.annotations),
        workload=WorkloadKind(message.workload) if message.workload in _WORKLOADS else None,
        extensions=_stored_json(message.extensions_json),
    )
    return Job(
        id=message.id,
        request=placeholder,
        state=STATE_FROM_PB[message.state],
        created_at=seconds_of(message.created_at),
        updated_at=seconds_of(message.updated_at),
        owner=message.owner,
        tenant=message.tenant or DEFAULT_TENANT,
        started_at=seconds_of(message.started_at) if message.HasField("started_at") else None,
        finished_at=seconds_of(message.finished_at) if message.HasField("finished_at") else None,
        error_code=message.error_code or None,
        error_summary=message.error_summary or None,
        attempt=message.attempt,
        last_seq=message.last_event_seq,
        timings=dict(message.timings),
        progress=preferred_json(message.progress_json, message.progress),
        result_expired_at=(
            seconds_of(message.result_expired_at) if message.HasField("result_expired_at") else None
        ),
        worker_id=message.worker or None,
        lease_expires_at=(
            seconds_of(message.lease_expires_at) if message.HasField("lease_expires_at") else None
        ),
        placement=placement_from_pb(message),
    )


def session_to_pb(session: Session) -> jobs_pb2.Session:
    return jobs_pb2.Session(
        id=session.id,
        tenant=session.tenant,
        owner=session.owner,
        target=session.target,
        state=session.state.value,
        created_at=timestamp(session.created_at),
        max_time_s=session.max_time_s,
        idle_s=session.idle_s,
        last_activity_at=timestamp(session.last_activity_at),
        ended_at=timestamp(session.ended_at),
        reason=session.reason,
        expires_at=timestamp(session.expires_at),
    )


def session_from_pb(message: jobs_pb2.Session) -> Session:
    return Session(
        id=message.id,
        tenant=message.tenant,
        owner=message.owner,
        target=message.target,
        state=SessionState(message.state),
        created_at=seconds_of(message.created_at),
        max_time_s=message.max_time_s,
        idle_s=message.idle_s,
        last_activity_at=seconds_of(message.last_activity_at),
        ended_at=seconds_of(message.ended_at) if message.HasField("ended_at") else None,
        reason=message.reason,
    )


def dead_letter_to_pb(letter: DeadLetter) -> jobs_pb2.DeadLetter:
    return jobs_pb2.DeadLetter(
        job_id=letter.job_id,
        tenant=letter.tenant,
        attempts=letter.attempts,
        reason=letter.reason,
        at=timestamp(letter.at),
        last_worker=letter.last_worker or "",
    )


def dead_letter_from_pb(message: jobs_pb2.DeadLetter) -> DeadLetter:
    return DeadLetter(
        job_id=message.job_id,
        tenant=message.tenant,
        attempts=message.attempts,
        reason=message.reason,
        at=seconds_of(message.at),
        last_worker=message.last_worker or None,
    )


QUOTA_FIELDS = ("max_queued_jobs", "max_shots_per_job", "max_qubits_per_job")


def quota_fields(quota: Quota) -> dict[str, int]:
    """The quota fields of an internal enqueue message (``EnqueueRequest``,
    ``EnqueueBatchRequest``): 0 for no limit."""
    return {name: getattr(quota, name) or 0 for name in QUOTA_FIELDS}


def quota_from_pb(message: Any) -> Quota:
    """The quota an internal enqueue message carries (a field 0 or below: no limit)."""
    values = {name: int(getattr(message, name)) for name in QUOTA_FIELDS}
    return Quota(**{name: value if value > 0 else None for name, value in values.items()})


def tenant_from_pb(message: Any) -> str:
    """The tenant an internal enqueue message carries ("" is the default tenant)."""
    return str(message.tenant) or DEFAULT_TENANT


def event_to_pb(event: JobEvent) -> pb.JobEvent:
    return pb.JobEvent(
        job_id=event.job_id,
        event_seq=event.seq,
        state=STATE_TO_PB[event.state],
        kind=event.kind,
        message=event.message,
        timestamp=timestamp(event.timestamp),
        data=struct(event.data),
        data_json=json_text(event.data),
        terminal=event.terminal,
    )


def event_from_pb(message: pb.JobEvent) -> JobEvent:
    return JobEvent(
        job_id=message.job_id,
        seq=message.event_seq,
        state=STATE_FROM_PB[message.state],
        kind=message.kind,
        timestamp=seconds_of(message.timestamp),
        message=message.message,
        data=preferred_json(message.data_json, message.data),
    )


def experiment_to_pb(experiment: Experiment) -> pb.Experiment:
    return pb.Experiment(
        counts=experiment.counts,
        shots=experiment.shots,
        bindings=experiment.bindings,
        expectation_values=experiment.expectation_values,
        standard_errors=experiment.standard_errors,
        memory=experiment.memory,
        probabilities=experiment.probabilities,
        statevector_real=[a.real for a in experiment.statevector],
        statevector_imag=[a.imag for a in experiment.statevector],
    )


def experiment_from_pb(message: pb.Experiment) -> Experiment:
    return Experiment(
        counts=dict(message.counts),
        shots=message.shots,
        bindings=dict(message.bindings),
        expectation_values=list(message.expectation_values),
        standard_errors=list(message.standard_errors),
        memory=list(message.memory),
        probabilities=list(message.probabilities),
        statevector=[
            complex(re, im) for re, im in zip(message.statevector_real, message.statevector_imag, strict=True)
        ],
    )


def result_to_pb(result: JobResult, state: JobState = JobState.DONE) -> pb.JobResults:
    message = pb.JobResults(
        job_id=result.job_id,
        state=STATE_TO_PB[state],
        backend=result.backend,
        experiments=[experiment_to_pb(e) for e in result.experiments],
        calibration_id=result.calibration_id,
        timings=result.timings,
        compile_report=struct(result.compile_report),
        compile_report_json=json_text(result.compile_report),
        summary=struct(result.summary),
        summary_json=json_text(result.summary),
        engine=result.engine,
    )
    if result.seed is not None:
        message.seed = result.seed
    return message


def result_from_pb(message: pb.JobResults) -> JobResult:
    return JobResult(
        job_id=message.job_id,
        backend=message.backend,
        experiments=[experiment_from_pb(e) for e in message.experiments],
        seed=message.seed if message.HasField("seed") else None,
        calibration_id=message.calibration_id,
        timings=dict(message.timings),
        compile_report=preferred_json(message.compile_report_json, message.compile_report),
        summary=preferred_json(message.summary_json, message.summary),
        engine=message.engine,
    )


def chunk_to_pb(job_id: str, chunk: Chunk) -> jobs_pb2.ResultChunk:
    return jobs_pb2.ResultChunk(
        job_id=job_id,
        index=chunk.index,
        total=chunk.total,
        is_final=chunk.is_final,
        partial=result_to_pb(chunk.result),
        experiment_indices=chunk.experiment_indices,
    )


def chunk_from_pb(message: jobs_pb2.ResultChunk) -> Chunk:
    return Chunk(
        message.index, message.total, result_from_pb(message.partial), list(message.experiment_indices)
    )


# -- devices ---------------------------------------------------------------------------
def device_to_pb(device: DeviceInfo, queue_depth: int = 0) -> pb.Backend:
    return pb.Backend(
        name=device.name,
        num_qubits=device.num_qubits,
        basis_gates=list(device.basis_gates),
        coupling_map=[pb.CouplingEdge(control=a, target=b) for a, b in device.coupling_map or ()],
        max_shots=device.max_shots,
        max_circuits=device.max_circuits,
        status=STATUS_TO_PB[device.status],
        queue_depth=queue_depth,
        calibration_id=device.calibration_id,
        simulator=device.simulator,
        noisy=device.noisy,
        clifford_only=device.clifford_only,
        description=device.description,
        aliases=list(device.aliases),
        state_memory=device.state_memory.value,
    )


_STATE_MEMORY = {kind.value: kind for kind in StateMemory}  # "" (an older driver-manager): NONE


def device_from_pb(message: pb.Backend) -> DeviceInfo:
    edges = tuple((e.control, e.target) for e in message.coupling_map)
    return DeviceInfo(
        name=message.name,
        num_qubits=message.num_qubits,
        basis_gates=tuple(message.basis_gates),
        coupling_map=edges or None,
        max_shots=message.max_shots,
        max_circuits=message.max_circuits,
        simulator=message.simulator,
        noisy=message.noisy,
        clifford_only=message.clifford_only,
        status=STATUS_FROM_PB.get(message.status, DeviceStatus.OFFLINE),
        calibration_id=message.calibration_id,
        description=message.description,
        aliases=tuple(message.aliases),
        state_memory=_STATE_MEMORY.get(message.state_memory, StateMemory.NONE),
    )


def calibration_to_pb(calibration: Calibration) -> pb.Calibration:
    return pb.Calibration(
        backend=calibration.device,
        calibration_id=calibration.calibration_id,
        taken_at=calibration.taken_at,
        qubits=list_value(calibration.qubits),
        gates=list_value(calibration.gates),
    )


def calibration_from_pb(message: pb.Calibration) -> Calibration:
    return Calibration(
        device=message.backend,
        calibration_id=message.calibration_id,
        taken_at=message.taken_at,
        qubits=plain(message.qubits),
        gates=plain(message.gates),
    )
