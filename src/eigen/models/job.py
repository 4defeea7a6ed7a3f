"""A job: the validated request a user submitted, its record, and its events."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from eigen.models import limits
from eigen.models.limits import (
    Annotations,
    Extensions,
    Finite,
    Labels,
    Options,
    ParameterName,
    Pauli,
    Target,
)
from eigen.models.outputs import DEFAULT_OUTPUTS, Output
from eigen.models.placement import Placement
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.program import MAX_PROGRAM_BYTES, ProgramLanguage
from eigen.models.session import SESSION_LABEL
from eigen.models.state import JobState
from eigen.models.workload import WorkloadKind

NAME_PATTERN = rf"^[A-Za-z0-9._-]{{1,{limits.NAME_MAX}}}$"
JOB_ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{limits.JOB_ID_MAX}}}$"
JOB_REF_PREFIX = "job:"
SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"


def job_ref_id(value: str) -> str:
    """The job id a dependency names: ``job:<id>`` or the bare id."""
    return value.removeprefix(JOB_REF_PREFIX)


DEFAULT_TARGET = "sim:statevector"
DEFAULT_SHOTS = 1024
DEFAULT_PRIORITY = 50
NAMESPACE_PATTERN = rf"^[A-Za-z0-9._-]{{1,{limits.NAMESPACE_MAX}}}$"
DEFAULT_NAMESPACE = "default"
PROGRAM_URI_PATTERN = r"^qfs://[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9._-]{1,128})?$"
RESERVED_LABEL_PREFIXES = ("eigen.os/", "runtime.eigen.os/", "scheduler.eigen.os/")


class JobRequest(BaseModel):
    """A submission after parsing: every field resolved, the program inline.

    This is what the kernel stores and executes, whatever the user wrote (job.yaml v0.1
    or v1, a gRPC message, a REST body, a qiskit circuit from the SDK).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="job", pattern=NAME_PATTERN)
    namespace: str = Field(default=DEFAULT_NAMESPACE, pattern=NAMESPACE_PATTERN)
    # A stored artifact (``qfs://<job id>[/<file>]``) the program comes from; the kernel
    # reads it in at submission, so everything after submission sees the text.
    program_uri: str | None = Field(default=None, pattern=PROGRAM_URI_PATTERN)
    program: str = ""  # the program text; empty only while program_uri is still to be read
    language: ProgramLanguage
    entrypoint: str = Field(default="main", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    target: Target = DEFAULT_TARGET
    shots: int | None = Field(default=None, ge=0, le=limits.SHOTS_MAX)  # None: program or default
    seed: int | None = Field(default=None, ge=0, le=limits.SEED_MAX)
    optimization_level: int | None = Field(default=None, ge=0, le=limits.OPTIMIZATION_LEVEL_MAX)
    priority: int = Field(default=DEFAULT_PRIORITY, ge=0, le=limits.PRIORITY_MAX)
    labels: Labels = Field(default_factory=dict, max_length=limits.LABELS_MAX)
    annotations: Annotations = Field(default_factory=dict, max_length=limits.ANNOTATIONS_MAX)
    options: Options = Field(default_factory=dict, max_length=limits.OPTIONS_MAX)
    parameter_bindings: list[dict[ParameterName, Finite]] = Field(default_factory=list)
    observables: list[dict[Pauli, Finite]] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0, le=limits.TIMEOUT_S_MAX, allow_inf_nan=False)
    dependencies: list[Annotated[str, Field(pattern=JOB_ID_PATTERN)]] = Field(
        default_factory=list, max_length=limits.DEPENDENCIES_MAX
    )
    # The JobSpec 1.0 family of work; None: not stated (the program decides).
    workload: WorkloadKind | None = None
    # What each experiment returns (eigen.models.outputs); the default, counts, when none given.
    outputs: tuple[Output, ...] = DEFAULT_OUTPUTS
    # The session it is submitted in (docs/scheduling.md, "Sessions"); None: none.
    session_id: str | None = Field(default=None, pattern=SESSION_ID_PATTERN)
    # What the job file said that has no typed field: the optional sections (runtime,
    # resources, scheduling, observability, security, artifacts), spec.workload,
    # spec.compiler / compiler_options, a map of spec.parameters, as given (JSON values).
    # Kept, shown and stored; docs/jobspec.md says which keys are honoured.
    extensions: Extensions = Field(default_factory=dict)

    @field_validator("program")
    @classmethod
    def _program_size(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip() and info.data.get("program_uri") is None:
            raise ValueError("program is empty")
        if len(value.encode("utf-8", "surrogatepass")) > MAX_PROGRAM_BYTES:
            raise ValueError(f"program is larger than {MAX_PROGRAM_BYTES // 1024} KiB")
        if "\x00" in value:
            raise ValueError("program contains NUL bytes (binary data is not a program)")
        return value

    @field_validator("outputs", mode="before")
    @classmethod
    def _outputs(cls, value: Any) -> Any:
        """Each output once, in the canonical order; none given is the default (unknown
        names are left to the enum's validation, which lists the known ones)."""
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, (list, tuple)):
            return value
        if len(value) > len(Output):
            raise ValueError(f"at most {len(Output)} outputs: {', '.join(o.value for o in Output)}")
        names = {str(v).strip().lower() for v in value if str(v).strip()}
        known = [o for o in Output if o.value in names]
        return tuple(known) + tuple(sorted(names - {o.value for o in known})) or DEFAULT_OUTPUTS

    @field_validator("dependencies", mode="before")
    @classmethod
    def _dependency_ids(cls, value: Any) -> Any:
        """A dependency is named by its id or as ``job:<id>`` (JobSpec's reference form):
        both are stored as the id, so that one job is never two dependencies."""
        if not isinstance(value, (list, tuple)):
            return value
        return [job_ref_id(v) if isinstance(v, str) else v for v in value]

    @field_validator("labels")
    @classmethod
    def _user_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if key.startswith(RESERVED_LABEL_PREFIXES) and key != SESSION_LABEL:
                raise ValueError(
                    f"label {key!r}: the prefixes {', '.join(RESERVED_LABEL_PREFIXES)} are reserved"
                )
        return value

    @model_validator(mode="after")
    def _session_label(self) -> JobRequest:
        """The session label is the kernel's: it marks a job admitted into its session, and
        equals ``session_id``."""
        if SESSION_LABEL in self.labels and self.labels[SESSION_LABEL] != self.session_id:
            raise ValueError(f"label {SESSION_LABEL!r} is reserved: submit with session_id instead")
        return self

    @property
    def shots_or_default(self) -> int:
        return DEFAULT_SHOTS if self.shots is None else self.shots

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON of the request (idempotency, caching)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Job:
    """The stored record of a job. Only ``kernel.lifecycle`` changes ``state``."""

    id: str
    request: JobRequest
    state: JobState
    created_at: float
    updated_at: float
    owner: str = "anonymous"
    tenant: str = DEFAULT_TENANT  # every job belongs to one tenant; others see NOT_FOUND
    traceparent: str = ""  # W3C trace context of the submitting call, carried to every stage
    idempotency_key: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error_code: str | None = None
    error_summary: str | None = None
    attempt: int = 0
    last_seq: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    progress: dict[str, Any] = field(default_factory=dict)
    result_expired_at: float | None = None  # when result retention removed its result
    # the worker that claimed the job (COMPILING, RUNNING) and when its claim lapses unless
    # renewed; a lapsed lease puts the job back for another worker (attempt + 1)
    worker_id: str | None = None
    lease_expires_at: float | None = None
    deadline_at: float | None = None  # when the job times out (epoch seconds); None: never
    # where it waits on a queue (set by the kernel's GetJob, never stored)
    placement: Placement | None = None

    @property
    def terminal(self) -> bool:
        return self.state.terminal


@dataclass(frozen=True)
class JobEvent:
    """One entry of a job's history. ``seq`` counts from 1 per job."""

    job_id: str
    seq: int
    state: JobState
    kind: str  # "state" for transitions, "progress" for iterations of a hybrid loop
    timestamp: float
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.kind == "state" and self.state.terminal
