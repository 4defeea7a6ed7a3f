"""What ``submit`` accepts, turned into one validated :class:`JobRequest`.

* a :class:`JobRequest` (keyword options override its fields);
* a :class:`~eigen.models.jobspec.JobSpec` (a parsed ``job.yaml``, either apiVersion); a
  ``spec.program.path`` in it is relative to the current directory and stays inside it;
* a qiskit ``QuantumCircuit`` (written as OpenQASM 3; qiskit is imported only then);
* OpenQASM 2/3 or Eigen-Lang source text, or an AQO document (a mapping);
* a path (``str`` or :class:`~pathlib.Path`) to a ``job.yaml`` or to a program file
  (``.qasm``, ``.py`` Eigen-Lang, ``.json`` AQO).

Keyword options (:class:`SubmitOptions`) override what the input says. Errors are
:class:`eigen.errors.InvalidArgument` naming the bad field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from eigen.errors import EigenError, FieldViolation, InvalidArgument
from eigen.models.job import JobRequest
from eigen.models.program import (
    MAX_PROGRAM_BYTES,
    ProgramLanguage,
    language_from_name,
    language_from_path,
    sniff_language,
)
from eigen.models.workload import WorkloadKind, workload_from_name

if TYPE_CHECKING:
    from eigen.models.jobspec import JobSpec

JOB_FILE_SUFFIXES = (".yaml", ".yml")
PROGRAM_SUFFIXES = (".qasm", ".qasm2", ".qasm3", ".py", ".json")
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")

# Anything submit accepts; qiskit circuits are recognised by duck typing (``Any`` here).
Submittable: TypeAlias = "JobRequest | JobSpec | str | Path | Mapping[str, Any] | Any"


class SubmitOptions(TypedDict, total=False):
    """Keyword options of ``submit``; each one overrides the same field of the input."""

    name: str
    target: str
    shots: int
    seed: int
    optimization_level: int
    priority: int
    parameter_bindings: Sequence[Mapping[str, float]] | Mapping[str, float]
    observables: Sequence[Mapping[str, float] | str] | Mapping[str, float] | str
    labels: Mapping[str, str]
    options: Mapping[str, str]
    timeout_seconds: float
    dependencies: Sequence[str]
    language: ProgramLanguage | str
    entrypoint: str
    namespace: str
    annotations: Mapping[str, str]
    workload: WorkloadKind | str
    extensions: Mapping[str, Any]  # kept JobSpec 1.0 sections (JSON values)
    outputs: Sequence[str] | str  # "counts" (default), "memory", "probabilities", "statevector"
    session_id: str  # an ACTIVE session of the tenant on the target (Client.session)


def is_quantum_circuit(value: object) -> bool:
    """True for a qiskit ``QuantumCircuit`` (or subclass), without importing qiskit."""
    return any(
        cls.__name__ == "QuantumCircuit" and cls.__module__.startswith("qiskit")
        for cls in type(value).__mro__
    )


def circuit_to_qasm3(circuit: Any) -> str:
    """OpenQASM 3 text of a qiskit circuit (qiskit is imported here, only when needed)."""
    from qiskit import qasm3

    try:
        return str(qasm3.dumps(circuit))
    except Exception as exc:  # qiskit raises its own QASM3ExporterError and friends
        raise InvalidArgument.for_field("program", f"cannot write the circuit as OpenQASM 3: {exc}") from None


def to_request(job: Submittable, **options: Any) -> JobRequest:
    """Resolve anything ``submit`` accepts into a validated request.

    ``options`` are :class:`SubmitOptions`; None values are ignored.
    """
    from eigen.models.jobspec import validated_request  # the JobSpec reader, on first submit

    fields = _base_fields(job)
    fields.update(_normalise_options(options))
    return validated_request(fields)


def resolve_many(jobs: Iterable[Submittable], options: Mapping[str, Any]) -> list[JobRequest]:
    """Resolve every item of a batch; errors name the item as ``jobs[i]``."""
    requests = []
    for index, job in enumerate(jobs):
        try:
            requests.append(to_request(job, **options))
        except EigenError as exc:
            raise error_for_item(exc, index) from None
    return requests


def error_for_item(error: EigenError, index: int) -> EigenError:
    """The same error, about item ``index`` of a batch (fields become ``jobs[i].<field>``)."""
    prefix = f"jobs[{index}]"
    violations = [
        FieldViolation(v.field if v.field.startswith(prefix) else f"{prefix}.{v.field}", v.description)
        for v in error.violations
    ]
    return type(error)(f"{prefix}: {error.message}", violations, {**error.metadata, "index": str(index)})


def _base_fields(job: Submittable) -> dict[str, Any]:
    from eigen.jobfile import program_source
    from eigen.models.jobspec import JobSpec

    if isinstance(job, JobRequest):
        return job.model_dump()
    if isinstance(job, JobSpec):
        return job.to_request(program_source(job, Path.cwd())).model_dump()
    if is_quantum_circuit(job):
        fields: dict[str, Any] = {"program": circuit_to_qasm3(job), "language": ProgramLanguage.QASM3}
        name = _clean_name(str(getattr(job, "name", "") or ""))
        if name:
            fields["name"] = name
        return fields
    if isinstance(job, Mapping):
        return {"program": json.dumps(job), "language": ProgramLanguage.AQO}
    if isinstance(job, Path):
        return _from_path(job)
    if isinstance(job, str):
        if _looks_like_path(job):
            return _from_path(Path(job))
        return {"program": job, "language": sniff_language(job)}
    raise InvalidArgument.for_field(
        "job",
        f"cannot submit a {type(job).__name__}: give a QuantumCircuit, program text, "
        "a job.yaml or program path, a mapping (AQO), a JobSpec or a JobRequest",
    )


def _looks_like_path(text: str) -> bool:
    if "\n" in text or len(text) > 4096 or not text.strip():
        return False
    lowered = text.strip().lower()
    if lowered.endswith(JOB_FILE_SUFFIXES):
        return True
    return lowered.endswith(PROGRAM_SUFFIXES) and Path(text).is_file()


def _from_path(path: Path) -> dict[str, Any]:
    from eigen.jobfile import load_job_file, read_limited

    if path.suffix.lower() in JOB_FILE_SUFFIXES:
        return load_job_file(path).model_dump()
    source = read_limited(path, MAX_PROGRAM_BYTES, str(path), "program")  # never a FIFO or a device
    language = language_from_path(path.name) or sniff_language(source)
    fields: dict[str, Any] = {"program": source, "language": language}
    name = _clean_name(path.stem)
    if name:
        fields["name"] = name
    return fields


def _normalise_options(options: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(SubmitOptions.__annotations__))
    if unknown:
        raise TypeError(f"unknown submit option(s): {', '.join(unknown)}")
    fields = {key: value for key, value in options.items() if value is not None}
    if "language" in fields and isinstance(fields["language"], str):
        language = language_from_name(fields["language"])
        if language is None:
            raise InvalidArgument.for_field("language", f"unknown language {fields['language']!r}")
        fields["language"] = language
    if "parameter_bindings" in fields:
        bindings = fields["parameter_bindings"]
        fields["parameter_bindings"] = (
            [dict(bindings)] if isinstance(bindings, Mapping) else [dict(b) for b in bindings]
        )
    if "observables" in fields:
        fields["observables"] = _observables(fields["observables"])
    if isinstance(fields.get("workload"), str):
        fields["workload"] = workload_from_name(fields["workload"], "workload")
    for key in ("labels", "options", "annotations", "extensions"):
        if key in fields:
            fields[key] = dict(fields[key])
    if "dependencies" in fields:
        fields["dependencies"] = list(fields["dependencies"])
    return fields


def _observables(value: Any) -> list[dict[str, float]]:
    """``"ZZ"``, ``{"ZZ": 1, "XI": 0.5}`` or a list of those -> list of Pauli -> coefficient."""
    items = [value] if isinstance(value, (str, Mapping)) else list(value)
    return [
        {item: 1.0} if isinstance(item, str) else {str(k): float(v) for k, v in item.items()}
        for item in items
    ]


def _clean_name(raw: str) -> str:
    return _NAME_BAD.sub("-", raw).strip("-")[:128]
