"""JobSpec: the ``job.yaml`` format (JobSpec 1.0 ``eigen.os/v1`` and legacy ``eigen.os/v0.1``).

Pure data handling, no I/O: :func:`parse_jobspec` turns the YAML mapping into a
:class:`JobSpec` (migrating v0.1 to v1 first), refusing a bad document with one
InvalidArgument that lists every violation; :meth:`JobSpec.to_request` resolves it, with
the program text read by the caller, into the :class:`JobRequest` the kernel runs, and
:func:`document_of` writes a request back as the document that resubmits it. The
sections are :mod:`eigen.models.jobspec_sections` and :mod:`eigen.models.jobspec_workload`;
the rules across fields :mod:`eigen.models.jobspec_resolve`. Reading files (with the path
rules) lives in :mod:`eigen.jobfile`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
)

from eigen.errors import FieldViolation, InvalidArgument, quote
from eigen.models import limits
from eigen.models.job import NAME_PATTERN, NAMESPACE_PATTERN, PROGRAM_URI_PATTERN, JobRequest
from eigen.models.jobspec_document import API_V01, API_V1, KIND, document_of
from eigen.models.jobspec_hints import PROGRAM_STRING_HINT, metadata_violations, unknown_key_message
from eigen.models.jobspec_resolve import resolve
from eigen.models.jobspec_sections import (
    Artifacts,
    Compiler,
    Observability,
    Priority,
    Resources,
    Runtime,
    Scheduling,
    Security,
)
from eigen.models.jobspec_workload import Workload
from eigen.models.limits import Annotations, Target
from eigen.models.pipeline import stage_of
from eigen.models.program import (
    ProgramLanguage,
    language_from_name,
    language_from_path,
    sniff_language,
)
from eigen.models.workload import WorkloadKind, check_workload, workload_from_name

__all__ = [
    "API_V01",
    "API_V1",
    "KIND",
    "MAX_JOBSPEC_BYTES",
    "JobSpec",
    "document_of",
    "invalid_from_pydantic",
    "migrate_v01",
    "parse_jobspec",
    "request_from_wire",
    "validated_request",
]

MAX_JOBSPEC_BYTES = 64 * 1024
ENTRYPOINT_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
LABEL_KEY_MAX = 64  # JobSpec 1.0: shorter than what a request may carry
LABEL_VALUE_MAX = 128
LabelKey = Annotated[str, StringConstraints(min_length=1, max_length=LABEL_KEY_MAX)]
LabelValue = Annotated[str, StringConstraints(max_length=LABEL_VALUE_MAX)]
Dependency = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Scalar = str | int | float | bool | None


class ProgramRef(BaseModel):
    """``spec.program``: exactly one of ``path``, ``source`` (synonym ``inline``) or
    ``uri`` (checked with the cross-field rules, so every violation is listed at once)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    source: str | None = None
    inline: str | None = None  # JobSpec 1.0 synonym of source
    uri: str | None = None
    language: str | None = None  # Eigen addition
    entrypoint: str | None = Field(default=None, pattern=ENTRYPOINT_PATTERN)  # synonym of spec.entrypoint

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str | None) -> str | None:
        if value is not None and language_from_name(value) is None:
            raise ValueError(f"unknown language {quote(value)} (qasm2, qasm3, eigen-lang, aqo)")
        return value

    @field_validator("uri")
    @classmethod
    def _stored_artifact(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(PROGRAM_URI_PATTERN, value):
            raise ValueError(f"Eigen reads programs stored as qfs://<job id>[/<file>], got {quote(value)}")
        return value

    @property
    def text(self) -> str | None:
        """The inline program (``source`` or its synonym ``inline``), if any."""
        return self.source if self.source is not None else self.inline


class Metadata(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="job", pattern=NAME_PATTERN)
    namespace: str = Field(default="default", pattern=NAMESPACE_PATTERN)
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=limits.LABELS_MAX)
    annotations: Annotations = Field(default_factory=dict, max_length=limits.ANNOTATIONS_MAX)


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Target | None = None  # default sim:statevector
    program: ProgramRef | None = None  # required, except by a ReplayJob
    entrypoint: str | None = Field(default=None, pattern=ENTRYPOINT_PATTERN)  # default main
    priority: Priority | None = None  # default 50
    metadata: dict[str, Scalar] = Field(default_factory=dict)
    compiler: Compiler | None = None
    compiler_options: Compiler | None = None
    parameters: Any = None  # a list of bindings (Eigen) or a map of run parameters (JobSpec 1.0)
    observables: list[dict[str, float]] = Field(default_factory=list)  # Eigen addition
    dependencies: list[Dependency] = Field(default_factory=list, max_length=limits.DEPENDENCIES_MAX)
    workload: Workload | None = None


class JobSpec(BaseModel):
    """A validated ``eigen.os/v1`` document (v0.1 is migrated first)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    api_version: str = Field(alias="apiVersion")
    kind: str = KIND
    metadata: Metadata = Field(default_factory=Metadata)
    spec: Spec
    runtime: Runtime | None = None
    resources: Resources | None = None
    scheduling: Scheduling | None = None
    observability: Observability | None = None
    security: Security | None = None
    artifacts: Artifacts | None = None
    # The document as written (v1 form): the sections are kept from it as given.
    _given: dict[str, Any] | None = PrivateAttr(default=None)

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
        """The declared language, else the path's (or uri's) suffix, else the text's;
        a program still to be read from a stored job is qasm3 until the kernel reads it."""
        ref = self.spec.program or ProgramRef()
        if ref.language:
            language = language_from_name(ref.language)
            assert language is not None  # checked by the validator
            return language
        for name in (ref.path, ref.uri):
            if name and (by_name := language_from_path(name)):
                return by_name
        return sniff_language(source) if source.strip() else ProgramLanguage.QASM3

    def to_request(self, source: str) -> JobRequest:
        """The resolved request, given the program text (inline or read from ``path``;
        empty for a program named by ``uri`` or a ReplayJob's stored one)."""
        view = self.model_dump(by_alias=True, exclude_unset=True)
        resolution = resolve(view, self._given)
        if resolution.violations:
            raise _invalid(resolution.violations)
        fields = {**resolution.fields, "program": source, "language": self.language_for(source)}
        return validated_request(fields, field_names=resolution.paths)


def validated_request(fields: dict[str, Any], field_names: dict[str, str] | None = None) -> JobRequest:
    """Build a :class:`JobRequest`, turning pydantic errors into one InvalidArgument, then
    apply the rules of its workload kind (a target counts as given when ``fields`` has it)."""
    names = field_names or {}
    try:
        request = JobRequest(**fields)
        if request.workload is WorkloadKind.PIPELINE_JOB:  # its stages upstream are dependencies
            stage = stage_of(request.extensions)
            merged = list(dict.fromkeys([*request.dependencies, *stage.upstream]))
            if merged != request.dependencies:
                request = JobRequest(**{**fields, "dependencies": merged})
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
    outputs: list[str] | None = None,
    session_id: str = "",
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
        ("session_id", session_id),
    ):
        if value:
            fields[key] = value
    if outputs:
        fields["outputs"] = outputs
    if workload:
        fields["workload"] = workload_from_name(workload, f"{field_prefix}.workload")
    rename = {key: f"{field_prefix}.{key}" for key in (*fields, "workload", "seed", "target")}
    rename["program"] = f"{field_prefix}.program.source"
    rename["program_uri"] = f"{field_prefix}.program.uri"
    return validated_request(fields, field_names=rename)


def invalid_from_pydantic(exc: ValidationError, rename: dict[str, str] | None = None) -> InvalidArgument:
    """One InvalidArgument naming every bad field of a pydantic validation error."""
    return _invalid(pydantic_violations(exc, rename))


_UNION_TAGS = {
    "str": "text",
    "constrained-str": "text",
    "int": "an integer",
    "constrained-int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "none": "null",
}


def pydantic_violations(exc: ValidationError, rename: dict[str, str] | None = None) -> list[FieldViolation]:
    """The violations of a pydantic error, each named by its dotted path (the first part
    renamed by ``rename``); enumerations list their allowed values, and a value that fits
    none of the types a field allows is one violation saying which types it may have."""
    violations: list[FieldViolation] = []
    unions: dict[str, list[str]] = {}
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        is_key = loc[-1:] == ["[key]"]
        tag = loc[-1] if len(loc) > 1 and loc[-1] in _UNION_TAGS else None
        loc = loc[:-1] if is_key or tag else loc
        head = (rename or {}).get(loc[0], loc[0]) if loc else "request"
        path = ".".join([head, *loc[1:]])
        message = str(err["msg"]).removeprefix("Value error, ")
        if tag is not None and err["type"].endswith("_type"):
            if path not in unions:
                unions[path] = []
                violations.append(FieldViolation(path, ""))
            unions[path].append(_UNION_TAGS[tag])
            continue
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "missing":
            message = "is required"
        elif err["type"] == "literal_error":
            expected = (err.get("ctx") or {}).get("expected", "")
            message = f"must be one of {expected}, got {quote(err.get('input'))}"
        if is_key:
            message = f"the key: {message}"
        violations.append(FieldViolation(path, message))
    return [
        FieldViolation(v.field, f"must be {' or '.join(dict.fromkeys(unions[v.field]))}")
        if v.field in unions and not v.description
        else v
        for v in violations
    ]


def _invalid(violations: list[FieldViolation]) -> InvalidArgument:
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidArgument(f"invalid job: {summary}", violations)


def parse_jobspec(document: Any) -> JobSpec:
    """Validate a loaded YAML document as a JobSpec, migrating v0.1 to v1. A bad document
    is one InvalidArgument listing every violation: the schema's (types, ranges, unknown
    keys, enumerations) and the cross-field rules' (synonyms, conflicts) together."""
    if not isinstance(document, dict):
        raise InvalidArgument.for_field("(document)", "a job spec must be a YAML mapping")
    version = document.get("apiVersion")
    if version is None:
        raise InvalidArgument.for_field("apiVersion", f"is required ({API_V1!r} or {API_V01!r})")
    if version == API_V01:
        document = migrate_v01(document)
    try:
        spec = JobSpec.model_validate(document)
    except ValidationError as exc:
        violations = [_hinted(v, document) for v in pydantic_violations(exc)]
        named = {v.field for v in violations}
        # The cross-field rules too, on the document as written (leniently).
        more = [v for v in resolve(document).violations if v.field not in named]
        spec_map = document.get("spec")
        more += metadata_violations(spec_map.get("metadata") if isinstance(spec_map, dict) else None)
        raise _invalid(violations + more) from None
    resolution = resolve(spec.model_dump(by_alias=True, exclude_unset=True), document)
    violations = resolution.violations + metadata_violations(spec.spec.metadata)
    if violations:
        raise _invalid(violations)
    spec._given = document
    return spec


_STRICT_MAPS: dict[str, type[BaseModel]] = {
    "": JobSpec,
    "metadata": Metadata,
    "spec": Spec,
    "spec.program": ProgramRef,
}
"""The maps that refuse unknown keys, by path: an unknown key there gets a did-you-mean."""


def _hinted(violation: FieldViolation, document: dict[str, Any]) -> FieldViolation:
    """``violation`` with the fix spelled out where one is obvious (a misplaced or misspelt
    key; ``program: bell.qasm``, a string where a map is needed)."""
    path = violation.field.split(".")
    parent = ".".join(path[:-1])
    if violation.description == "unknown key" and parent in _STRICT_MAPS:
        model = _STRICT_MAPS[parent]
        known = [info.alias or name for name, info in model.model_fields.items()]
        return FieldViolation(violation.field, unknown_key_message(path, known))
    spec = document.get("spec")
    if violation.field == "spec.program" and isinstance(spec, dict) and isinstance(spec.get("program"), str):
        return FieldViolation(violation.field, PROGRAM_STRING_HINT)
    return violation


_V01_SPEC_KEYS = {
    "target",
    "entrypoint",
    "priority",
    "metadata",
    "compiler",
    "compiler_options",
    "parameters",
    "observables",
    "dependencies",
}
_V01_METADATA_KEYS = ("name", "namespace", "labels", "annotations")


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
    old_metadata = document.get("metadata")
    metadata = (
        {key: old_metadata[key] for key in _V01_METADATA_KEYS if key in old_metadata}
        if isinstance(old_metadata, dict)
        else {}
    )
    return {
        "apiVersion": API_V1,
        "kind": document.get("kind", KIND),
        "metadata": metadata,
        "spec": spec,
    }


def _looks_like_path(value: str) -> bool:
    return "\n" not in value and value.strip().endswith((".qasm", ".py", ".json"))
