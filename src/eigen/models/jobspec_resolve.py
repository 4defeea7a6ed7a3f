"""From a JobSpec 1.0 document to the fields of a :class:`~eigen.models.job.JobRequest`.

The rules that span fields live here: synonyms (``spec.program.entrypoint`` /
``spec.entrypoint``, ``scheduling.priority`` / ``spec.priority``, the seed and
optimization-level sources), precedence (``spec.workload.backend_target`` over
``spec.target``, ``spec.metadata`` over the sections), what a ReplayJob replays, and what
is kept as given (``extensions``). :func:`resolve` reads a plain mapping and never raises:
it returns every violation it finds, so a document with several mistakes hears of all of
them at once (on an unvalidated document it is lenient: wrong types are the schema's to
report). docs/jobspec.md has the table of what is honoured and what is recorded only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eigen.errors import FieldViolation, quote
from eigen.models import limits
from eigen.models.job import JOB_ID_PATTERN, RESERVED_LABEL_PREFIXES, job_ref_id
from eigen.models.jobspec_sections import DETERMINISTIC_SEED, PROFILE_LEVELS, SECTIONS
from eigen.models.jobspec_values import (
    json_value,
    lenient_int,
    mapping,
    number,
    option_text,
    whole,
    workload_kind,
)
from eigen.models.workload import REPLAY_OF, WorkloadKind

# Keys of spec.metadata that become typed fields: (kind, lowest, highest, lowest excluded).
TYPED_METADATA: dict[str, tuple[type, float, float, bool]] = {
    "shots": (int, 0, limits.SHOTS_MAX, False),
    "seed": (int, 0, limits.SEED_MAX, False),
    "optimization_level": (int, 0, limits.OPTIMIZATION_LEVEL_MAX, False),
    "timeout_seconds": (float, 0, limits.TIMEOUT_S_MAX, True),
}
# The spec keys kept as given in JobRequest.extensions (besides the top-level sections).
KEPT_SPEC_KEYS = ("workload", "compiler", "compiler_options")
PROGRAM_KEYS = ("path", "source", "inline", "uri")
QFS = "qfs://"


@dataclass
class Resolution:
    """The request fields a document gives, the file path of each (for errors), and the
    violations found."""

    fields: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    violations: list[FieldViolation] = field(default_factory=list)

    def fail(self, path: str, message: str) -> None:
        self.violations.append(FieldViolation(path, message))

    def set(self, key: str, value: Any, path: str) -> None:
        self.fields[key] = value
        self.paths[key] = path


def resolve(doc: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> Resolution:
    """The request fields of the v1 document ``doc`` (program text and language aside);
    the sections kept in ``extensions`` are copied from ``given`` (the document as the
    user wrote it) when known, else from ``doc``."""
    out = Resolution(
        paths={
            "name": "metadata.name",
            "namespace": "metadata.namespace",
            "labels": "metadata.labels",
            "annotations": "metadata.annotations",
            "program": "spec.program",
            "program_uri": "spec.program.uri",
            "language": "spec.program.language",
            "entrypoint": "spec.entrypoint",
            "target": "spec.target",
            "priority": "spec.priority",
            "seed": "spec.metadata.seed",
            "options": "spec.metadata",
            "parameter_bindings": "spec.parameters",
            "observables": "spec.observables",
            "dependencies": "spec.dependencies",
            "workload": "spec.workload.kind",
            "extensions": "(document)",
        }
    )
    meta, spec = mapping(doc.get("metadata")), mapping(doc.get("spec"))
    workload = mapping(spec.get("workload"))
    kind = workload_kind(workload.get("kind"))
    _identity(out, meta)
    _program(out, spec, kind)
    _target_and_priority(out, spec, workload, mapping(doc.get("scheduling")))
    options = _metadata(out, mapping(spec.get("metadata")))
    _seed(out, doc, spec, workload)
    _optimization(out, spec)
    _timeout(out, mapping(mapping(doc.get("runtime")).get("timeout")))
    if kind is not None:
        out.set("workload", kind, "spec.workload.kind")
    if kind is WorkloadKind.BENCHMARK_JOB and "seed" not in out.fields:
        out.paths["seed"] = "spec.workload.seed"  # where a BenchmarkJob's missing seed goes
    _replay(out, kind, workload, options, has_program=spec.get("program") is not None)
    _cross_checks(out, doc, workload)
    out.fields["options"] = options
    for key in ("observables",):
        if isinstance(spec.get(key), list):
            out.fields[key] = spec[key]
    _bindings_and_dependencies(out, spec)
    _extensions(out, doc if given is None else given)
    return out


# -- identity and program -------------------------------------------------------------------


def _identity(out: Resolution, meta: Mapping[str, Any]) -> None:
    for key in ("name", "namespace", "labels", "annotations"):
        if meta.get(key) is not None:
            out.fields[key] = meta[key]
    for key in mapping(meta.get("labels")):
        if isinstance(key, str) and key.startswith(RESERVED_LABEL_PREFIXES):
            out.fail(
                f"metadata.labels.{key}",
                f"the label prefixes {', '.join(RESERVED_LABEL_PREFIXES)} are reserved for Eigen",
            )


def _program(out: Resolution, spec: Mapping[str, Any], kind: WorkloadKind | None) -> None:
    program = spec.get("program")
    entry, synonym = spec.get("entrypoint"), mapping(program).get("entrypoint")
    if entry is not None and synonym is not None and entry != synonym:
        out.fail(
            "spec.program.entrypoint",
            f"{quote(synonym)} differs from spec.entrypoint {quote(entry)}: they are synonyms, give one",
        )
    if entry is not None or synonym is not None:
        out.set(
            "entrypoint",
            entry if entry is not None else synonym,
            "spec.entrypoint" if entry is not None else "spec.program.entrypoint",
        )
    if program is None and kind is not WorkloadKind.REPLAY_JOB:
        out.fail("spec.program", "is required (one of path, source or uri)")
        return
    ref = mapping(program)
    given = [key for key in PROGRAM_KEYS if ref.get(key) is not None]
    if "source" in given and "inline" in given:
        out.fail("spec.program", "source and inline are synonyms: give one")
    elif len(given) > 1:
        out.fail("spec.program", f"give exactly one of path, source or uri, not {' and '.join(given)}")
    elif not given and program is not None:
        out.fail("spec.program", "needs one of path, source (inline) or uri")
    if isinstance(ref.get("uri"), str):
        out.fields["program_uri"] = ref["uri"]


# The priority classes of ``scheduling.queue`` (docs/scheduling.md); other queue names are
# recorded only.
PRIORITY_CLASSES: dict[str, int] = {"high": 80, "normal": 50, "low": 20}


def _target_and_priority(
    out: Resolution, spec: Mapping[str, Any], workload: Mapping[str, Any], scheduling: Mapping[str, Any]
) -> None:
    # spec.workload.backend_target wins over spec.target (documented); "target" is set
    # only when the file gave one: a BenchmarkJob needs an explicit target.
    if workload.get("backend_target"):
        out.set("target", workload["backend_target"], "spec.workload.backend_target")
    elif spec.get("target"):
        out.set("target", spec["target"], "spec.target")
    ours, theirs = spec.get("priority"), scheduling.get("priority")
    if ours is not None and theirs is not None and ours != theirs:
        out.fail("scheduling.priority", f"{quote(theirs)} differs from spec.priority {quote(ours)}: give one")
    queue = scheduling.get("queue")
    if ours is not None:
        out.set("priority", ours, "spec.priority")
    elif theirs is not None:
        out.set("priority", theirs, "scheduling.priority")
    elif isinstance(queue, str) and queue in PRIORITY_CLASSES:
        # a class names a priority only where none is given: an explicit number wins
        out.set("priority", PRIORITY_CLASSES[queue], "scheduling.queue")


# -- spec.metadata and the values several places may give -----------------------------------


def _metadata(out: Resolution, meta: Mapping[str, Any]) -> dict[str, str]:
    """Typed keys of spec.metadata onto the request; the others as string options."""
    options: dict[str, str] = {}
    for key, value in meta.items():
        if value is None or (value == "" and key in TYPED_METADATA):
            continue
        if key == "outputs":  # "counts,memory" or a list; JobRequest checks the names
            out.set("outputs", value, "spec.metadata.outputs")
        elif key in TYPED_METADATA:
            read = number(out.fail, f"spec.metadata.{key}", value, *TYPED_METADATA[key])
            if read is not None:
                out.set(key, read, f"spec.metadata.{key}")
        elif isinstance(value, (str, int, float, bool)):
            options[str(key)] = option_text(value)
    return options


def _seed(
    out: Resolution, doc: Mapping[str, Any], spec: Mapping[str, Any], workload: Mapping[str, Any]
) -> None:
    sources = [
        ("spec.workload.seed", workload.get("seed")),
        (
            "spec.workload.replay.deterministic_seed",
            mapping(workload.get("replay")).get("deterministic_seed"),
        ),
        (
            "runtime.replay.deterministic_seed",
            mapping(mapping(doc.get("runtime")).get("replay")).get("deterministic_seed"),
        ),
        ("spec.compiler.seed", mapping(spec.get("compiler")).get("seed")),
        ("spec.compiler_options.seed", mapping(spec.get("compiler_options")).get("seed")),
    ]
    if "seed" in out.fields:
        sources.insert(0, ("spec.metadata.seed", out.fields["seed"]))
    chosen = _agreeing(out, [(path, lenient_int(value)) for path, value in sources], "seed")
    if chosen is not None:
        out.set("seed", chosen[1], chosen[0])
    elif _profile(out, spec) == "deterministic":
        out.set("seed", DETERMINISTIC_SEED, "spec.compiler.target_profile")


def _optimization(out: Resolution, spec: Mapping[str, Any]) -> None:
    if "optimization_level" in out.fields:  # spec.metadata wins
        return
    sources = [
        (
            f"spec.{section}.optimization_level",
            lenient_int(mapping(spec.get(section)).get("optimization_level")),
        )
        for section in ("compiler", "compiler_options")
    ]
    chosen = _agreeing(out, sources, "optimization level")
    profile = _profile(out, spec)
    if chosen is not None:
        out.set("optimization_level", chosen[1], chosen[0])
    elif profile in PROFILE_LEVELS:
        out.set("optimization_level", PROFILE_LEVELS[profile], "spec.compiler.target_profile")


def _profile(out: Resolution, spec: Mapping[str, Any]) -> str | None:
    sources = [
        (f"spec.{section}.target_profile", mapping(spec.get(section)).get("target_profile"))
        for section in ("compiler", "compiler_options")
    ]
    chosen = _agreeing(out, sources, "target profile", report=False)
    return chosen[1] if chosen is not None and isinstance(chosen[1], str) else None


def _timeout(out: Resolution, timeout: Mapping[str, Any]) -> None:
    """Eigen has one limit, counted from submission (queue time included): the sum of
    runtime.timeout.queue_seconds and execution_seconds; spec.metadata.timeout_seconds wins."""
    if "timeout_seconds" in out.fields:
        return
    parts = [whole(timeout.get(key)) for key in ("queue_seconds", "execution_seconds")]
    given = [part for part in parts if part is not None and part > 0]
    if given:
        path = (
            "runtime.timeout.execution_seconds" if parts[1] is not None else "runtime.timeout.queue_seconds"
        )
        total = float(sum(given))
        if total > limits.TIMEOUT_S_MAX:
            out.fail(path, f"queue_seconds + execution_seconds must be at most {limits.TIMEOUT_S_MAX:.0f}")
        else:
            out.set("timeout_seconds", total, path)


def _agreeing(
    out: Resolution, sources: list[tuple[str, Any]], what: str, *, report: bool = True
) -> tuple[str, Any] | None:
    """The first given (path, value) of ``sources``; a later one that differs is a violation
    naming both (``report``: also for values the schema refuses anyway)."""
    given = [(path, value) for path, value in sources if value is not None]
    for path, value in given[1:]:
        if value != given[0][1]:
            out.fail(path, f"{quote(value)} differs from {given[0][0]} {quote(given[0][1])}: give one {what}")
    return given[0] if given else None


# -- workload kinds -------------------------------------------------------------------------


def _replay(
    out: Resolution,
    kind: WorkloadKind | None,
    workload: Mapping[str, Any],
    options: dict[str, str],
    *,
    has_program: bool,
) -> None:
    """A ReplayJob's replayed job id, from spec.metadata.replay_of, spec.workload.replay_of or
    spec.workload.artifact_lineage.parent_ref, into options["replay_of"]."""
    if kind is not WorkloadKind.REPLAY_JOB:
        return
    sources = []
    for path, value in (
        ("spec.metadata.replay_of", options.get(REPLAY_OF)),
        ("spec.workload.replay_of", workload.get("replay_of")),
        (
            "spec.workload.artifact_lineage.parent_ref",
            mapping(workload.get("artifact_lineage")).get("parent_ref"),
        ),
    ):
        if not isinstance(value, str) or not value:
            continue
        job_id = replayed_id(value)
        if job_id is None:
            out.fail(path, f"must be a job id or qfs://<job id>, got {quote(value)}")
        else:
            sources.append((path, job_id))
    chosen = _agreeing(out, sources, "replayed job")
    if chosen is None:
        if not any(v.field.startswith(("spec.metadata.replay_of", "spec.workload.")) for v in out.violations):
            out.fail(
                "spec.workload.kind",
                "a ReplayJob names the job it replays (spec.metadata.replay_of, spec.workload.replay_of "
                "or spec.workload.artifact_lineage.parent_ref)",
            )
        return
    options[REPLAY_OF] = chosen[1]
    if not has_program:
        # The kernel reads the stored job's program and language in place of this one.
        out.set("program_uri", f"{QFS}{chosen[1]}", chosen[0])


def replayed_id(value: str) -> str | None:
    """The job id of ``value``: a job id, or ``qfs://<job id>`` (with an optional file)."""
    text = value.removeprefix(QFS).split("/", 1)[0] if value.startswith(QFS) else value
    return text if re.fullmatch(JOB_ID_PATTERN, text) else None


def _cross_checks(out: Resolution, doc: Mapping[str, Any], workload: Mapping[str, Any]) -> None:
    pipeline = mapping(workload.get("pipeline"))
    handoff, outputs = pipeline.get("handoff_ref"), pipeline.get("output_refs")
    if handoff is not None and (not isinstance(outputs, list) or handoff not in outputs):
        out.fail("spec.workload.pipeline.handoff_ref", f"{quote(handoff)} must be one of output_refs")
    observability = mapping(doc.get("observability"))
    tracing, trace = observability.get("tracing"), observability.get("trace")
    if isinstance(tracing, bool) and trace in ("required", "optional") and tracing != (trace == "required"):
        out.fail(
            "observability.trace", f"{quote(trace)} contradicts observability.tracing {tracing}: give one"
        )


# -- what is kept as given ------------------------------------------------------------------


def _bindings_and_dependencies(out: Resolution, spec: Mapping[str, Any]) -> None:
    """spec.parameters as a list is the bindings; spec.dependencies that are job ids are
    the job's dependencies (the rest is kept, see :func:`_extensions`)."""
    parameters = spec.get("parameters")
    if isinstance(parameters, list):
        out.fields["parameter_bindings"] = parameters
    elif parameters is not None and not isinstance(parameters, Mapping):
        out.fail("spec.parameters", "must be a list of bindings or a map of run parameters")
    dependencies = spec.get("dependencies")
    if isinstance(dependencies, list):
        out.fields["dependencies"] = [job_ref_id(d) for d in dependencies if _is_job_id(d)]


def _is_job_id(value: Any) -> bool:
    """Whether a spec.dependencies entry names a job: its id, or ``job:<id>``."""
    return isinstance(value, str) and re.fullmatch(JOB_ID_PATTERN, job_ref_id(value)) is not None


def _extensions(out: Resolution, doc: Mapping[str, Any]) -> None:
    """What is kept as given (JSON values): the optional sections, spec.workload,
    spec.compiler(_options), spec.parameters as a map (run parameters) and the
    spec.dependencies that are not job ids (package pins, artifact refs)."""
    spec = mapping(doc.get("spec"))
    kept: dict[str, Any] = {}
    for name in SECTIONS:
        if doc.get(name) is not None:
            kept[name] = json_value(out.fail, name, doc[name])
    for key in KEPT_SPEC_KEYS:
        if key == "workload" and mapping(spec.get(key)).keys() <= {"kind"}:
            continue  # the kind alone is JobRequest.workload
        if spec.get(key) is not None:
            kept[key] = json_value(out.fail, f"spec.{key}", spec[key])
    parameters = spec.get("parameters")
    if isinstance(parameters, Mapping):
        kept["parameters"] = json_value(out.fail, "spec.parameters", parameters)
    dependencies = spec.get("dependencies")
    others = [d for d in dependencies if not _is_job_id(d)] if isinstance(dependencies, list) else []
    if others:
        kept["dependencies"] = others
    size = len(json.dumps(kept, separators=(",", ":"), default=str))
    if size > limits.EXTENSIONS_BYTES_MAX:
        out.fail(
            "(document)",
            f"the kept sections hold more than {limits.EXTENSIONS_BYTES_MAX // 1024} KiB of JSON",
        )
    out.fields["extensions"] = kept
