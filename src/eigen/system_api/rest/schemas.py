"""JSON bodies of the REST gateway: the messages of ``eigen.api.v1`` with the same field names.

Enums are strings without their proto prefix (``"DONE"`` for ``JOB_STATE_DONE``) and
timestamps are RFC 3339. Request bodies reject unknown fields, non-finite numbers and text
that is not valid Unicode; everything else is validated by the service layer, exactly as
for gRPC, so both edges answer with the same reasons and field names.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from eigen.models import limits
from eigen.models.job import JOB_ID_PATTERN
from eigen.models.outputs import Output
from eigen.models.program import MAX_PROGRAM_BYTES
from eigen.models.session import MAX_TIME_S_MAX
from eigen.models.workload import WORKLOAD_KINDS


def _valid_unicode(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (lone surrogate)") from None
    return value


Text = Annotated[str, AfterValidator(_valid_unicode)]


IDEMPOTENCY_KEY_OR_NONE = rf"^([\x21-\x7e]{{1,{limits.IDEMPOTENCY_KEY_MAX}}})?$"
NAME_OR_DEFAULT = rf"^([A-Za-z0-9._-]{{1,{limits.NAME_MAX}}})?$"
ENTRYPOINT_OR_DEFAULT = r"^([A-Za-z_][A-Za-z0-9_]{0,127})?$"
# A program: not only whitespace, no NUL (and at most 256 KiB of UTF-8, checked as bytes);
# left out only when the program comes from a stored artifact (program.uri).
SOURCE_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
NAMESPACE_OR_DEFAULT = rf"^([A-Za-z0-9._-]{{1,{limits.NAMESPACE_MAX}}})?$"
PROGRAM_URI_OR_NONE = r"^(qfs://[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9._-]{1,128})?)?$"
# A workload kind is a word; which words are kinds is the service's to say (400 naming
# job.workload), and PipelineJob / DistributedJob are 501 until they are implemented.
WORKLOAD_OR_NONE = r"^[A-Za-z]{0,32}$"

# Constraints before the Unicode check, so that the JSON Schema shows them.
SourceText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_PROGRAM_BYTES, pattern=SOURCE_PATTERN),
    AfterValidator(_valid_unicode),
]
NamespaceOrDefault = Annotated[str, StringConstraints(pattern=NAMESPACE_OR_DEFAULT)]
ProgramUriOrNone = Annotated[str, StringConstraints(pattern=PROGRAM_URI_OR_NONE)]
WorkloadOrNone = Annotated[str, StringConstraints(pattern=WORKLOAD_OR_NONE)]
NameOrDefault = Annotated[str, StringConstraints(pattern=NAME_OR_DEFAULT), AfterValidator(_valid_unicode)]
EntrypointOrDefault = Annotated[
    str, StringConstraints(pattern=ENTRYPOINT_OR_DEFAULT), AfterValidator(_valid_unicode)
]
JobIdText = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN), AfterValidator(_valid_unicode)]
KeyOrNone = Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_OR_NONE), AfterValidator(_valid_unicode)]
# Numbers: strict, so JSON true/false are not read as 1/0.
Shots = Annotated[int, Field(ge=0, le=limits.SHOTS_MAX, strict=True)]
Seed = Annotated[int, Field(ge=0, le=limits.SEED_MAX, strict=True)]
Level = Annotated[int, Field(ge=0, le=limits.OPTIMIZATION_LEVEL_MAX, strict=True)]
Priority = Annotated[int, Field(ge=0, le=limits.PRIORITY_MAX, strict=True)]
Seconds = Annotated[float, Field(gt=0, le=limits.TIMEOUT_S_MAX, strict=True)]
Number = Annotated[float, Field(strict=True)]
# Integers are bounded like the proto fields they mirror: what gRPC cannot carry is a 400.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]


class JobState(StrEnum):
    PENDING = "PENDING"
    COMPILING = "COMPILING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"


class ProgramLanguage(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    QASM2 = "QASM2"
    QASM3 = "QASM3"
    EIGEN_LANG = "EIGEN_LANG"
    AQO = "AQO"


class BackendStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    MAINTENANCE = "MAINTENANCE"


BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
)
BELL_JOB: dict[str, Any] = {
    "name": "bell",
    "program": {"source": BELL},
    "target": "sim:statevector",
    "shots": 1000,
    "seed": 7,
    "labels": {"team": "docs"},
}


# -- requests ----------------------------------------------------------------------------
class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class Program(_Input):
    source: Annotated[
        SourceText,
        Field(
            description="program text (OpenQASM 2/3, Eigen-Lang, AQO JSON): not empty, no NUL, "
            f"at most {MAX_PROGRAM_BYTES // 1024} KiB of UTF-8; left out only with uri",
            json_schema_extra=_no_default,  # "" is not a valid source: it means "not given"
        ),
    ] = ""
    uri: ProgramUriOrNone = Field(
        default="",
        description="a stored artifact the program comes from (qfs://<job id>[/<file>]) instead of source",
    )
    language: ProgramLanguage = Field(
        default=ProgramLanguage.UNSPECIFIED, description="UNSPECIFIED: detected from the source"
    )
    entrypoint: EntrypointOrDefault = Field(default="", description='Eigen-Lang only; default "main"')


class ParameterBinding(_Input):
    values: dict[limits.ParameterName, Number] = Field(default_factory=dict)


class PauliTerm(_Input):
    pauli: limits.PauliOrEmpty = Field(
        default="", description="Qiskit order: the rightmost character acts on qubit 0"
    )
    coefficient: Number = 0.0


class Observable(_Input):
    terms: list[PauliTerm] = Field(default_factory=list)


class JobRequest(_Input):
    """Everything a user submits. Unset (null or absent) fields take the server's defaults."""

    name: NameOrDefault = ""
    program: Program
    target: limits.TargetOrDefault = ""
    shots: Shots | None = None
    seed: Seed | None = None
    optimization_level: Level | None = None
    priority: Priority | None = None
    parameter_bindings: list[ParameterBinding] = Field(default_factory=list)
    observables: list[Observable] = Field(default_factory=list)
    timeout_seconds: Seconds | None = None
    labels: Annotated[dict[Text, Text], limits.LABELS_SCHEMA] = Field(
        default_factory=dict, max_length=limits.LABELS_MAX
    )
    options: Annotated[dict[Text, Text], limits.OPTIONS_SCHEMA] = Field(
        default_factory=dict, max_length=limits.OPTIONS_MAX
    )
    dependencies: list[JobIdText] = Field(default_factory=list, max_length=limits.DEPENDENCIES_MAX)
    namespace: NamespaceOrDefault = Field(
        default="", description='JobSpec 1.0 metadata.namespace; "" is "default"'
    )
    annotations: Annotated[dict[Text, Text], limits.ANNOTATIONS_SCHEMA] = Field(
        default_factory=dict,
        max_length=limits.ANNOTATIONS_MAX,
        description="free metadata: kept and shown, never read by the scheduler",
    )
    workload: WorkloadOrNone = Field(
        default="",
        description=f"the JobSpec 1.0 workload kind, one of {', '.join(WORKLOAD_KINDS)}; "
        '"" lets the program decide',
    )
    extensions: dict[str, Any] = Field(
        default_factory=dict,
        description="the kept JobSpec 1.0 sections (runtime, resources, scheduling, observability, "
        "security, artifacts, spec.workload, spec.compiler...), at most "
        f"{limits.EXTENSIONS_BYTES_MAX // 1024} KiB of JSON",
    )
    outputs: list[Output] = Field(
        default_factory=list,
        max_length=len(Output),
        description="what each experiment returns: counts (the default when empty), memory, "
        "probabilities, statevector; each has a size limit (docs/api.md, Result outputs)",
    )
    session_id: str = Field(
        default="",
        max_length=64,
        description="an ACTIVE session of the tenant on this target (POST /v1/sessions); empty: none",
    )


class SubmitJobRequest(_Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"job": BELL_JOB}]})

    job: JobRequest
    idempotency_key: KeyOrNone = Field(
        default="", description="same key, same payload: the existing job (also the Idempotency-Key header)"
    )


class SubmitBatchRequest(_Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"jobs": [BELL_JOB, {**BELL_JOB, "seed": 8}]}]})

    jobs: list[JobRequest] = Field(
        min_length=1,
        max_length=limits.BATCH_MAX,
        description="all or nothing: one invalid item rejects the batch",
    )
    idempotency_key: KeyOrNone = Field(
        default="",
        description="same key, same jobs: the jobs it stored first (also the Idempotency-Key header)",
    )


# -- responses ---------------------------------------------------------------------------
class QueuePlacement(BaseModel):
    """Where a waiting job stands on its queue, when it should start, and why."""

    stage: Literal["compile", "execute"] = Field(description="compile: PENDING; execute: QUEUED")
    device: str = Field(description="the device whose queue it is on")
    position: int = Field(description="1: the next to start there")
    slots: int = Field(description="the device's concurrent executions (0: as many as there are workers)")
    estimated_start: datetime
    reason: str = Field(description="what the order counted: priority and class, fair share, jobs ahead")


class Job(BaseModel):
    id: str
    name: str
    state: JobState
    target: str
    priority: int
    shots: int
    language: ProgramLanguage
    created_at: datetime | None = None
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error_code: str = ""
    error_summary: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    attempt: int = 0
    last_event_seq: int = 0
    owner: str = ""
    tenant: str = Field(default="default", description="the tenant the job belongs to (docs/security.md)")
    progress: dict[str, Any] = Field(default_factory=dict)
    result_expired_at: datetime | None = Field(
        default=None, description="set once result retention removed the result; the job stays"
    )
    namespace: str = "default"
    annotations: dict[str, str] = Field(default_factory=dict)
    workload: str = Field(default="", description='the workload kind; "" when the request stated none')
    extensions: dict[str, Any] = Field(
        default_factory=dict, description="the kept JobSpec 1.0 sections, as given"
    )
    program_uri: str = Field(default="", description="the stored artifact the program came from, if any")
    worker: str = Field(default="", description='the node whose worker runs the job ("" when none holds it)')
    lease_expires_at: datetime | None = Field(
        default=None, description="when that worker's lease lapses unless renewed (null when none holds it)"
    )
    placement: QueuePlacement | None = Field(
        default=None,
        description="where it waits on a queue (null when it does not: held by a worker, waiting for "
        "its dependencies, ended); GetJob only",
    )


class OpenSessionRequest(_Input):
    target: str = Field(min_length=1, max_length=limits.TARGET_MAX, description="the device its jobs run on")
    max_time_s: float = Field(
        default=0.0, ge=0, le=MAX_TIME_S_MAX, allow_inf_nan=False, description="0: 8 hours; at most 7 days"
    )
    idle_s: float = Field(
        default=0.0,
        ge=0,
        le=MAX_TIME_S_MAX,
        allow_inf_nan=False,
        description="closed after this long with no job submitted; 0: 300 s; at most max_time_s",
    )


class Session(BaseModel):
    """A session: its jobs run back to back on its device, ahead of the queue, while ACTIVE."""

    id: str
    tenant: str
    owner: str
    target: str
    state: Literal["ACTIVE", "CLOSED", "CANCELLED", "EXPIRED"]
    created_at: datetime
    max_time_s: float
    idle_s: float
    last_activity_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    reason: str = Field(default="", description="why it left ACTIVE")


class SubmitJobResponse(BaseModel):
    job: Job
    deduplicated: bool = Field(description="true when the idempotency key matched an existing job")


class SubmitBatchResponse(BaseModel):
    job_ids: list[str] = Field(description="input order")
    deduplicated: bool = Field(description="true when the idempotency key matched an earlier batch")


class ListJobsResponse(BaseModel):
    jobs: list[Job]
    next_page_token: str = Field(description="empty on the last page")


class DeadLetter(BaseModel):
    """A job that ended in ERROR because each of its attempts lost its worker."""

    job_id: str
    tenant: str
    attempts: int
    reason: str
    at: datetime = Field(description="when it was given up on")
    last_worker: str = Field(default="", description='the node whose worker held it last ("" when none did)')


class ListDeadLettersResponse(BaseModel):
    dead_letters: list[DeadLetter] = Field(description="newest first")
    next_page_token: str = Field(description="empty on the last page")


class JobEvent(BaseModel):
    job_id: str
    event_seq: int
    state: JobState
    kind: str = Field(description='"state" or "progress"')
    message: str = ""
    timestamp: datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    terminal: bool = False


class Experiment(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)
    shots: int = 0
    bindings: dict[str, float] = Field(default_factory=dict)
    expectation_values: list[float] = Field(default_factory=list)
    standard_errors: list[float] = Field(default_factory=list)
    memory: list[str] = Field(default_factory=list, description='outputs "memory": each shot, in order')
    probabilities: list[float] = Field(
        default_factory=list, description='outputs "probabilities": index = basis state, qubit 0 lowest'
    )
    statevector: list[tuple[float, float]] = Field(
        default_factory=list, description='outputs "statevector": [real, imag] per basis state'
    )


class JobResults(BaseModel):
    job_id: str
    state: JobState
    backend: str
    experiments: list[Experiment] = Field(default_factory=list)
    seed: int | None = None
    calibration_id: str = ""
    timings: dict[str, float] = Field(default_factory=dict)
    compile_report: dict[str, Any] = Field(default_factory=dict)
    summary: dict[str, Any] = Field(
        default_factory=dict, description="hybrid programs: energy, parameters, returns... (JSON types kept)"
    )
    engine: str = Field(default="", description='the simulator that ran it ("aer", "qsim", "stim", ...)')


class ResultChunk(BaseModel):
    """One line of ``results:stream``; merging the counts of all chunks by experiment index
    gives ``GET /v1/jobs/{job_id}/results``."""

    job_id: str
    index: int
    total: int
    is_final: bool
    partial: JobResults
    experiment_indices: list[int] = Field(default_factory=list)


class CouplingEdge(BaseModel):
    control: int
    target: int


class Backend(BaseModel):
    name: str
    num_qubits: int
    basis_gates: list[str] = Field(default_factory=list)
    coupling_map: list[CouplingEdge] = Field(default_factory=list, description="empty: all-to-all")
    max_shots: int = 0
    max_circuits: int = 0
    status: BackendStatus
    queue_depth: int = 0
    calibration_id: str = ""
    simulator: bool = False
    noisy: bool = False
    clifford_only: bool = False
    description: str = ""
    aliases: list[str] = Field(default_factory=list)


class ListBackendsResponse(BaseModel):
    backends: list[Backend]


class Calibration(BaseModel):
    backend: str
    calibration_id: str
    taken_at: str
    qubits: list[Any] = Field(default_factory=list)
    gates: list[Any] = Field(default_factory=list)


class Health(BaseModel):
    status: str = Field(description='"ok"')
    checks: dict[str, str] = Field(default_factory=dict)


# -- errors ------------------------------------------------------------------------------
class Violation(BaseModel):
    field: str = Field(description="dotted path of the field, as gRPC's BadRequest names it")
    description: str


class Problem(BaseModel):
    """RFC 9457 problem details, served as ``application/problem+json``."""

    type: str
    title: str
    status: int
    detail: str
    reason: str = Field(description="the EIGEN_* reason, as in gRPC's ErrorInfo")
    retryable: bool
    request_id: str
    violations: list[Violation] = Field(default_factory=list)
