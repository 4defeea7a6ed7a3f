"""A job: the validated request a user submitted, its record, and its events."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eigen.models import limits
from eigen.models.limits import (
    Finite,
    Labels,
    Options,
    ParameterName,
    Pauli,
    Target,
)
from eigen.models.program import MAX_PROGRAM_BYTES, ProgramLanguage
from eigen.models.state import JobState

NAME_PATTERN = rf"^[A-Za-z0-9._-]{{1,{limits.NAME_MAX}}}$"
JOB_ID_PATTERN = rf"^[A-Za-z0-9_-]{{1,{limits.JOB_ID_MAX}}}$"
DEFAULT_TARGET = "sim:statevector"
DEFAULT_SHOTS = 1024
DEFAULT_PRIORITY = 50


class JobRequest(BaseModel):
    """A submission after parsing: every field resolved, the program inline.

    This is what the kernel stores and executes, whatever the user wrote (job.yaml v0.1
    or v1, a gRPC message, a REST body, a qiskit circuit from the SDK).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="job", pattern=NAME_PATTERN)
    program: str = Field(min_length=1)
    language: ProgramLanguage
    entrypoint: str = Field(default="main", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
    target: Target = DEFAULT_TARGET
    shots: int | None = Field(default=None, ge=0, le=limits.SHOTS_MAX)  # None: program or default
    seed: int | None = Field(default=None, ge=0, le=limits.SEED_MAX)
    optimization_level: int | None = Field(default=None, ge=0, le=limits.OPTIMIZATION_LEVEL_MAX)
    priority: int = Field(default=DEFAULT_PRIORITY, ge=0, le=limits.PRIORITY_MAX)
    labels: Labels = Field(default_factory=dict, max_length=limits.LABELS_MAX)
    options: Options = Field(default_factory=dict, max_length=limits.OPTIONS_MAX)
    parameter_bindings: list[dict[ParameterName, Finite]] = Field(default_factory=list)
    observables: list[dict[Pauli, Finite]] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0, le=limits.TIMEOUT_S_MAX, allow_inf_nan=False)
    dependencies: list[Annotated[str, Field(pattern=JOB_ID_PATTERN)]] = Field(
        default_factory=list, max_length=limits.DEPENDENCIES_MAX
    )

    @field_validator("program")
    @classmethod
    def _program_size(cls, value: str) -> str:
        if len(value.encode("utf-8", "surrogatepass")) > MAX_PROGRAM_BYTES:
            raise ValueError(f"program is larger than {MAX_PROGRAM_BYTES // 1024} KiB")
        if not value.strip():
            raise ValueError("program is empty")
        if "\x00" in value:
            raise ValueError("program contains NUL bytes (binary data is not a program)")
        return value

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
