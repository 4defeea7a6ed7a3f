"""JobSpec: the ``job.yaml`` format (``eigen.os/v1`` and legacy ``eigen.os/v0.1``).

Pure data handling, no I/O: :func:`parse_jobspec` turns the YAML mapping into a
:class:`JobSpec` (migrating v0.1 to v1 first), and :meth:`JobSpec.to_request` resolves it,
with the program text read by the caller, into the :class:`JobRequest` the kernel runs.
Reading files (with the path rules) lives in :mod:`eigen.jobfile`.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eigen.errors import FieldViolation, InvalidArgument, quote
from eigen.models.job import DEFAULT_PRIORITY, DEFAULT_TARGET, NAME_PATTERN, JobRequest
from eigen.models.program import (
    ProgramLanguage,
    language_from_name,
    language_from_path,
    sniff_language,
)
from eigen.models.workload import check_workload, workload_from_name

API_V1 = "eigen.os/v1"
API_V01 = "eigen.os/v0.1"
KIND = "QuantumJob"
MAX_JOBSPEC_BYTES = 64 * 1024

# Keys of spec.metadata that become typed fields of the request; the rest stay options.
_TYPED_METADATA = ("shots", "seed", "optimization_level", "timeout_seconds")


class ProgramRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    source: str | None = None
    language: str | None = None

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and language_from_name(value) is None:
            raise ValueError(f"unknown language {quote(value)} (qasm2, qasm3, eigen-lang, aqo)")
        return value


class Metadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(default="job", pattern=NAME_PATTERN)
    labels: dict[str, str] = Field(default_factory=dict)


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str = DEFAULT_TARGET
    program: ProgramRef
    entrypoint: str = "main"
    priority: int = Field(default=DEFAULT_PRIORITY, ge=0, le=100, strict=True)
    metadata: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    compiler: dict[str, Any] = Field(default_factory=dict)
    parameters: list[dict[str, float]] = Field(default_factory=list)
    observables: list[dict[str, float]] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str = KIND
    metadata: Metadata = Field(default_factory=Metadata)
    spec: Spec

    @field_validator("api_version")
    @classmethod
    def _v1_only(cls, value: str) -> str:
        if value != API_V1:
            raise ValueError(f"must be {API_V1!r} or {API_V01!r}")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value != KIND:
            raise ValueError(f"must be {KIND!r}")
        return value

    def language_for(self, source: str) -> ProgramLanguage:
        ref = self.spec.program
        if ref.language:
            language = language_from_name(ref.language)
            assert language is not None  # checked by the validator
            return language
        if ref.path and (by_path := language_from_path(ref.path)):
            return by_path
        return sniff_language(source)

    def to_request(self, source: str) -> JobRequest:
        """The resolved request, given the program text (inline or read from ``path``)."""
        meta = dict(self.spec.metadata)
        typed: dict[str, Any] = {}
        for key in _TYPED_METADATA:
            raw = meta.pop(key, None)
            if raw is not None and raw != "":
                typed[key] = _number(f"spec.metadata.{key}", raw, float if key == "timeout_seconds" else int)
        options = {key: _text(value) for key, value in meta.items() if value is not None}
        if "optimization_level" not in typed and "optimization_level" in self.spec.compiler:
            typed["optimization_level"] = _number(
                "spec.compiler.optimization_level", self.spec.compiler["optimization_level"], int
            )
        fields = {
            "name": self.metadata.name,
            "program": source,
            "language": self.language_for(source),
            "entrypoint": self.spec.entrypoint,
            "target": self.spec.target,
            "priority": self.spec.priority,
            "labels": self.metadata.labels,
            "options": options,
            "parameter_bindings": self.spec.parameters,
            "observables": self.spec.observables,
            "dependencies": self.spec.dependencies,
            **typed,
        }
        return validated_request(fields, field_names=_REQUEST_FIELD_PATHS)


_REQUEST_FIELD_PATHS = {
    "name": "metadata.name",
    "program": "spec.program",
    "entrypoint": "spec.entrypoint",
    "target": "spec.target",
    "priority": "spec.priority",
    "shots": "spec.metadata.shots",
    "seed": "spec.metadata.seed",
    "optimization_level": "spec.metadata.optimization_level",
    "timeout_seconds": "spec.metadata.timeout_seconds",
    "labels": "metadata.labels",
    "parameter_bindings": "spec.parameters",
    "observables": "spec.observables",
    "dependencies": "spec.dependencies",
}


def validated_request(fields: dict[str, Any], field_names: dict[str, str] | None = None) -> JobRequest:
    """Build a :class:`JobRequest`, turning pydantic errors into one InvalidArgument, then
    apply the rules of its workload kind (a target counts as given when ``fields`` has it)."""
    names = field_names or {}
    try:
        request = JobRequest(**fields)
    except ValidationError as exc:
        raise invalid_from_pydantic(exc, names) from None
    check_workload(
        request.workload,
        seed=request.seed,
        target_given=bool(fields.get("target")),
        options=request.options,
        fields={key: names.get(key, key) for key in ("workload", "seed", "target")},
    )
    return request


def request_from_wire(
    *,
    source: str,
    language: ProgramLanguage | None,
    entrypoint: str,
    name: str,
    target: str,
    scalars: dict[str, Any],
    labels: dict[str, str],
    options: dict[str, str],
    dependencies: list[str],
    bindings: list[dict[str, float]],
    observables: list[dict[str, float]],
    field_prefix: str = "job",
    namespace: str = "",
    annotations: dict[str, str] | None = None,
    workload: str = "",
    extensions: dict[str, Any] | None = None,
    program_uri: str = "",
) -> JobRequest:
    """A JobRequest from an API message (gRPC or REST alike): empty strings and unset
    scalars take the defaults; errors name fields as ``<field_prefix>.<field>``.
    A program given by ``program_uri`` (a stored artifact) has no source."""
    if not source.strip() and not program_uri:
        raise InvalidArgument.for_field(f"{field_prefix}.program.source", "is empty")
    fields: dict[str, Any] = {
        "program": source,
        "language": language or sniff_language(source),
        "labels": labels,
        "annotations": annotations or {},
        "options": options,
        "dependencies": dependencies,
        "parameter_bindings": bindings,
        "observables": observables,
        "extensions": extensions or {},
        **{key: value for key, value in scalars.items() if value is not None},
    }
    for key, value in (
        ("name", name),
        ("target", target),
        ("entrypoint", entrypoint),
        ("namespace", namespace),
        ("program_uri", program_uri),
    ):
        if value:
            fields[key] = value
    if workload:
        fields["workload"] = workload_from_name(workload, f"{field_prefix}.workload")
    rename = {key: f"{field_prefix}.{key}" for key in (*fields, "workload", "seed", "target")}
    rename["program"] = f"{field_prefix}.program.source"
    rename["program_uri"] = f"{field_prefix}.program.uri"
    return validated_request(fields, field_names=rename)


def invalid_from_pydantic(exc: ValidationError, rename: dict[str, str] | None = None) -> InvalidArgument:
    """One InvalidArgument naming every bad field of a pydantic validation error."""
    violations = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        head = (rename or {}).get(loc[0], loc[0]) if loc else "request"
        path = ".".join([head, *loc[1:]])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "is required"
        violations.append(FieldViolation(path, message))
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidArgument(f"invalid job: {summary}", violations)


def parse_jobspec(document: Any) -> JobSpec:
    """Validate a loaded YAML document as a JobSpec, migrating v0.1 to v1."""
    if not isinstance(document, dict):
        raise InvalidArgument.for_field("(document)", "a job spec must be a YAML mapping")
    version = document.get("apiVersion")
    if version is None:
        raise InvalidArgument.for_field("apiVersion", f"is required ({API_V1!r} or {API_V01!r})")
    if version == API_V01:
        document = migrate_v01(document)
    try:
        return JobSpec.model_validate(document)
    except ValidationError as exc:
        raise invalid_from_pydantic(exc) from None


_V01_SPEC_KEYS = {
    "target",
    "entrypoint",
    "priority",
    "metadata",
    "compiler",
    "parameters",
    "observables",
    "dependencies",
}


def migrate_v01(document: dict[str, Any]) -> dict[str, Any]:
    """Turn an ``eigen.os/v0.1`` document into its ``eigen.os/v1`` form.

    v0.1 had ``spec.program`` as a string (inline source, or a path when it names a
    program file) and ``spec.program_path``; unknown keys were ignored and still are.
    """
    old_spec = document.get("spec")
    if not isinstance(old_spec, dict):
        raise InvalidArgument.for_field("spec", "is required and must be a mapping")
    spec: dict[str, Any] = {key: old_spec[key] for key in _V01_SPEC_KEYS if key in old_spec}
    program = old_spec.get("program")
    path = old_spec.get("program_path")
    if isinstance(program, dict):
        spec["program"] = program
    elif isinstance(program, str) and _looks_like_path(program):
        spec["program"] = {"path": program}
    elif isinstance(program, str):
        spec["program"] = {"source": program}
    elif path is not None:
        spec["program"] = {"path": path}
    if "language" in old_spec and isinstance(spec.get("program"), dict):
        spec["program"] = {**spec["program"], "language": old_spec["language"]}
    metadata = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    return {
        "apiVersion": API_V1,
        "kind": document.get("kind", KIND),
        "metadata": metadata,
        "spec": spec,
    }


def _looks_like_path(value: str) -> bool:
    return "\n" not in value and value.strip().endswith((".qasm", ".py", ".json"))


def _number(field_path: str, raw: Any, kind: type) -> Any:
    """``raw`` (a YAML scalar) as an int or a float; ranges are the request's to check.
    YAML reads ``.inf`` and ``.nan`` as floats: they are refused here, where ``int()``
    would raise OverflowError."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise InvalidArgument.for_field(field_path, f"must be a number, got {quote(raw)}")
    if isinstance(raw, str):
        try:
            raw = int(raw) if raw.strip().lstrip("+-").isdigit() else float(raw)
        except ValueError:  # not a number, or more digits than Python converts
            raise InvalidArgument.for_field(field_path, f"must be a number, got {quote(raw)}") from None
    if isinstance(raw, float) and not math.isfinite(raw):
        raise InvalidArgument.for_field(field_path, f"must be a finite number, got {quote(raw)}")
    if kind is int and isinstance(raw, float) and not raw.is_integer():
        raise InvalidArgument.for_field(field_path, f"must be a whole number, got {quote(raw)}")
    return kind(raw)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
