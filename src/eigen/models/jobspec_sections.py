"""The optional top-level sections of a JobSpec 1.0 document, and ``spec.compiler``.

Each section is checked for the keys JOBSPEC-1.0.md lists (types, ranges, enumerations);
keys it does not list are allowed and kept ("forward compatible"), so a newer document is
never refused for a hint Eigen does not know yet. What Eigen honours is read from the
validated values by :mod:`eigen.models.jobspec_resolve`; the section itself is kept on the
job as given (``JobRequest.extensions``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from eigen.models import limits

Ref = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
"""A reference or a name inside a section (a queue, an artifact ref, an id)."""
MapKey = Annotated[str, StringConstraints(min_length=1, max_length=limits.OPTION_KEY_MAX)]
Scalar = str | int | float | bool
Seed = Annotated[int, Field(ge=0, le=limits.SEED_MAX)]
Positive = Annotated[int, Field(gt=0)]
Priority = Annotated[int, Field(ge=0, le=limits.PRIORITY_MAX, strict=True)]
BOUNDED_MAP_MAX = 64
"""The most entries of a bounded map (``compiler.defines``, ``scheduling.affinity``)."""

TargetProfile = Literal["balanced", "latency", "deterministic", "debug", "aggressive"]
PROFILE_LEVELS: dict[str, int] = {
    "debug": 0,
    "latency": 1,
    "balanced": 1,
    "deterministic": 1,
    "aggressive": 3,
}
"""The optimization level each ``compiler.target_profile`` stands for."""
DETERMINISTIC_SEED = 0
"""The seed a ``deterministic`` profile fixes when the document gives none."""


class Section(BaseModel):
    """A map of JobSpec 1.0 whose unlisted keys are kept, not refused."""

    model_config = ConfigDict(extra="allow")


# -- runtime ------------------------------------------------------------------------------


class Retry(Section):
    max_attempts: Annotated[int, Field(ge=1)] | None = None
    backoff: Literal["fixed", "linear", "exponential"] | None = None


class Timeout(Section):
    queue_seconds: Positive | None = None
    execution_seconds: Positive | None = None
    result_seconds: Positive | None = None


class Replay(Section):
    enabled: bool | None = None
    deterministic_seed: Seed | None = None


class Runtime(Section):
    mode: Literal["local", "distributed", "hybrid", "benchmark", "replay"] | None = None
    retry: Retry | None = None
    timeout: Timeout | None = None
    replay: Replay | None = None


# -- resources ----------------------------------------------------------------------------


class Gpu(Section):
    count: Annotated[int, Field(ge=0)] | None = None
    vendor: Ref | None = None
    memory_mb: Positive | None = None


class QuantumResources(Section):
    qubits: Positive | None = None
    backend_family: Ref | None = None
    minimum_fidelity: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None


class Resources(Section):
    cpu: Positive | None = None
    memory_mb: Positive | None = None
    gpu: Gpu | None = None
    quantum: QuantumResources | None = None


# -- scheduling ---------------------------------------------------------------------------


class Policy(Section):
    mode: Literal["balanced", "latency", "cost", "availability", "deterministic", "compliance"] | None = None


class Scheduling(Section):
    priority: Priority | None = None
    queue: Ref | None = None
    policy: Policy | None = None
    affinity: Annotated[dict[MapKey, Scalar], Field(max_length=BOUNDED_MAP_MAX)] | None = None


# -- observability, security, artifacts ---------------------------------------------------


class Observability(Section):
    tracing: bool | None = None
    trace: Literal["required", "optional"] | None = None  # synonym of tracing (true: required)
    metrics: bool | None = None
    explainability_level: Literal["L1_USER", "L2_OPERATOR", "L3_FORENSIC"] | None = None


class Filesystem(Section):
    readonly: bool | None = None


class Network(Section):
    mode: Literal["disabled", "restricted", "enabled"] | None = None


class ArtifactSecurity(Section):
    require_signatures: bool | None = None


class Security(Section):
    sandbox: Literal["disabled", "standard", "strict"] | None = None
    filesystem: Filesystem | None = None
    network: Network | None = None
    artifacts: ArtifactSecurity | None = None

    @field_validator("network", mode="before")
    @classmethod
    def _mode_string(cls, value: Any) -> Any:
        """``network: restricted`` is short for ``network: {mode: restricted}``."""
        return {"mode": value} if isinstance(value, str) else value


class Retention(Section):
    days: Annotated[int, Field(ge=0)] | None = None


class Artifacts(Section):
    persist_results: bool | None = None
    retention: Retention | None = None


# -- spec.compiler and spec.compiler_options ----------------------------------------------


class Compiler(Section):
    """``spec.compiler`` (and ``spec.compiler_options``, its RFC 0003 string-map form):
    numbers may be written as strings (``optimization_level: "2"``)."""

    optimization_level: Annotated[int, Field(ge=0, le=limits.OPTIMIZATION_LEVEL_MAX)] | None = None
    target_profile: TargetProfile | None = None
    seed: Seed | None = None
    defines: Annotated[dict[MapKey, Scalar], Field(max_length=BOUNDED_MAP_MAX)] | None = None


SECTIONS: dict[str, type[Section]] = {
    "runtime": Runtime,
    "resources": Resources,
    "scheduling": Scheduling,
    "observability": Observability,
    "security": Security,
    "artifacts": Artifacts,
}
"""The optional top-level sections, by key."""
