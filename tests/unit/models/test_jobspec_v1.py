"""JobSpec 1.0 (``apiVersion: eigen.os/v1``): every section and field, valid and invalid.

The rules are /work/shared/design/JOBSPEC-1.0.md and docs/jobspec.md: unknown keys are kept
inside the optional sections and spec.workload, refused elsewhere; synonyms that disagree
are an error naming both; honoured keys reach the typed request fields, the sections are
kept as given on ``JobRequest.extensions``; ``document_of`` writes a request back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from eigen.errors import EigenError, InvalidArgument, Unimplemented
from eigen.jobfile import jobspec_from_text, load_job_file, program_source
from eigen.models.job import JobRequest
from eigen.models.jobspec import document_of, parse_jobspec
from eigen.models.program import ProgramLanguage
from eigen.models.workload import WorkloadKind

RETURN_1 = "@hybrid_program\ndef main():\n    return 1\n"
QASM3 = "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nh q[0];\nc = measure q;\n"

MINIMAL = """\
apiVersion: eigen.os/v1
kind: QuantumJob
metadata: {name: v1-minimal}
spec:
  target: sim:local
  program:
    source: |
      @hybrid_program
      def main():
          return 1
"""

STATE_PREP = """\
apiVersion: eigen.os/v1
kind: QuantumJob
metadata:
  name: state-prep
  labels: {domain: materials}
  annotations: {owner: research-team}
spec:
  target: sim:local
  priority: 55
  program: {path: program.eigen.py, entrypoint: main}
  workload: {kind: QuantumJob, execution_profile: circuit, replayable: false, backend_target: sim:local}
  compiler: {optimization_level: "2"}
  metadata: {shots: "4096", seed: "11"}
scheduling: {queue: interactive}
observability: {trace: optional, some_future_hint: kept}
"""


def document(**parts: Any) -> dict[str, Any]:
    """A valid minimal document; ``spec_*`` keys go into spec, others at the top level,
    ``metadata`` replaces the metadata map. A value None removes the key."""
    doc: dict[str, Any] = {
        "apiVersion": "eigen.os/v1",
        "kind": "QuantumJob",
        "metadata": {"name": "t"},
        "spec": {"target": "sim:local", "program": {"source": QASM3}},
    }
    for key, value in parts.items():
        where, name = (doc["spec"], key.removeprefix("spec_")) if key.startswith("spec_") else (doc, key)
        if value is None:
            where.pop(name, None)
        else:
            where[name] = value
    return doc


def submit(doc: dict[str, Any], base: Path | None = None) -> JobRequest:
    return jobspec_from_text(yaml.safe_dump(doc, sort_keys=False), base)


def refused(call: Callable[[], Any], *fields: str, error: type[EigenError] = InvalidArgument) -> EigenError:
    """``call`` fails with ``error`` whose violations name every one of ``fields``."""
    with pytest.raises(error) as info:
        call()
    named = [v.field for v in info.value.violations]
    for field in fields:
        assert field in named, (field, named)
        assert field in str(info.value)
    return info.value


def violation(exc: EigenError, field: str) -> str:
    return next(v.description for v in exc.violations if v.field == field)


# ------------------------------------------------------------------ the examples


def test_minimal_example_with_inline_return_1_is_accepted() -> None:
    request = jobspec_from_text(MINIMAL, None)
    assert request.name == "v1-minimal"
    assert request.program == RETURN_1
    assert request.language is ProgramLanguage.EIGEN_LANG
    assert request.target == "sim:local"
    assert (request.namespace, request.priority, request.entrypoint) == ("default", 50, "main")
    assert request.workload is None and request.extensions == {}


def test_state_prep_example_is_accepted_and_mapped(tmp_path: Path) -> None:
    (tmp_path / "program.eigen.py").write_text(RETURN_1, encoding="utf-8")
    (tmp_path / "job.yaml").write_text(STATE_PREP, encoding="utf-8")
    request = load_job_file(tmp_path / "job.yaml")
    assert request.program == RETURN_1 and request.language is ProgramLanguage.EIGEN_LANG
    assert (request.name, request.labels, request.annotations) == (
        "state-prep",
        {"domain": "materials"},
        {"owner": "research-team"},
    )
    assert (request.target, request.priority, request.shots, request.seed) == ("sim:local", 55, 4096, 11)
    assert request.optimization_level == 2  # a string in spec.compiler
    assert request.workload is WorkloadKind.QUANTUM_JOB
    assert request.extensions == {
        "scheduling": {"queue": "interactive"},
        "observability": {"trace": "optional", "some_future_hint": "kept"},
        "workload": {
            "kind": "QuantumJob",
            "execution_profile": "circuit",
            "replayable": False,
            "backend_target": "sim:local",
        },
        "compiler": {"optimization_level": "2"},  # as given
    }


# --------------------------------------------------------------------- top level


@pytest.mark.parametrize("key", ["surprise", "Runtime", "status"])
def test_unknown_top_level_key_refused(key: str) -> None:
    exc = refused(lambda: submit(document(**{key: {}})), key)
    assert violation(exc, key).startswith("unknown key")


@pytest.mark.parametrize(
    "section", ["runtime", "resources", "scheduling", "observability", "security", "artifacts"]
)
def test_unknown_keys_in_optional_sections_are_kept(section: str) -> None:
    given = {"future_hint": {"deep": [1, "two", None]}, "flag": True}
    request = submit(document(**{section: given}))
    assert request.extensions[section] == given


@pytest.mark.parametrize(
    "section", ["runtime", "resources", "scheduling", "observability", "security", "artifacts"]
)
def test_optional_section_must_be_a_map(section: str) -> None:
    refused(lambda: submit(document(**{section: "yes"})), section)


def test_unknown_key_in_spec_and_program_refused() -> None:
    refused(lambda: submit(document(spec_bogus=1)), "spec.bogus")
    refused(lambda: submit(document(spec_program={"source": QASM3, "paht": "x"})), "spec.program.paht")


def test_yaml_dates_in_kept_sections_become_iso_text() -> None:
    text = yaml.safe_dump(document()) + "artifacts: {expires: 2026-01-31}\n"
    assert jobspec_from_text(text, None).extensions["artifacts"] == {"expires": "2026-01-31"}


def test_kept_sections_over_32_kib_refused() -> None:
    refused(lambda: submit(document(runtime={"blob": "x" * 40_000})), "(document)")


# ----------------------------------------------------------------------- metadata


def test_metadata_namespace_default_and_pattern() -> None:
    assert submit(document()).namespace == "default"
    assert submit(document(metadata={"name": "t", "namespace": "team-a.b_1"})).namespace == "team-a.b_1"
    for bad in ("a b", "x" * 65, "", "a/b"):
        refused(
            lambda bad=bad: submit(document(metadata={"name": "t", "namespace": bad})), "metadata.namespace"
        )


def test_metadata_name_pattern() -> None:
    refused(lambda: submit(document(metadata={"name": "semi;colon"})), "metadata.name")
    assert submit(document(metadata={"name": "a" * 128})).name == "a" * 128


def test_metadata_unknown_key_refused() -> None:
    refused(lambda: submit(document(metadata={"name": "t", "owner": "me"})), "metadata.owner")


def test_labels_limits() -> None:
    assert submit(document(metadata={"name": "t", "labels": {"k" * 64: "v" * 128}})).labels == {
        "k" * 64: "v" * 128
    }
    exc = refused(
        lambda: submit(document(metadata={"name": "t", "labels": {"k" * 65: "v"}})),
        f"metadata.labels.{'k' * 65}",
    )
    assert "key" in violation(exc, f"metadata.labels.{'k' * 65}")
    refused(lambda: submit(document(metadata={"name": "t", "labels": {"k": "v" * 129}})), "metadata.labels.k")
    refused(lambda: submit(document(metadata={"name": "t", "labels": {"k": 5}})), "metadata.labels.k")


@pytest.mark.parametrize("key", ["eigen.os/owner", "runtime.eigen.os/x", "scheduler.eigen.os/queue"])
def test_reserved_label_prefixes_refused(key: str) -> None:
    refused(lambda: submit(document(metadata={"name": "t", "labels": {key: "v"}})), f"metadata.labels.{key}")


def test_annotations_kept_and_typed() -> None:
    notes = {"owner": "research-team", "ticket": "Q-1"}
    assert submit(document(metadata={"name": "t", "annotations": notes})).annotations == notes
    refused(lambda: submit(document(metadata={"name": "t", "annotations": ["x"]})), "metadata.annotations")


# ------------------------------------------------------------------------ program


def test_program_inline_is_a_synonym_of_source() -> None:
    assert submit(document(spec_program={"inline": QASM3})).program == QASM3
    exc = refused(lambda: submit(document(spec_program={"inline": QASM3, "source": QASM3})), "spec.program")
    assert "synonyms" in violation(exc, "spec.program")


@pytest.mark.parametrize(
    "program",
    [
        {"path": "p.qasm", "source": QASM3},
        {"path": "p.qasm", "uri": "qfs://abc"},
        {"inline": QASM3, "uri": "qfs://abc"},
        {"language": "qasm3"},
        {},
    ],
)
def test_program_needs_exactly_one_of_path_source_uri(program: dict[str, Any]) -> None:
    refused(lambda: submit(document(spec_program=program)), "spec.program")


def test_program_is_required() -> None:
    refused(lambda: submit(document(spec_program=None)), "spec.program")


def test_program_uri_names_a_stored_artifact() -> None:
    request = submit(document(spec_program={"uri": "qfs://job123/program.eigen.py"}))
    assert request.program_uri == "qfs://job123/program.eigen.py"
    assert request.program == ""  # read in by the kernel
    assert request.language is ProgramLanguage.EIGEN_LANG  # from the file's suffix
    by_language = submit(document(spec_program={"uri": "qfs://job123", "language": "qasm2"}))
    assert by_language.language is ProgramLanguage.QASM2
    for bad in ("s3://bucket/x", "qfs://", "qfs://a/b/c", "qfs://../x"):
        refused(lambda bad=bad: submit(document(spec_program={"uri": bad})), "spec.program.uri")


def test_program_language_stays() -> None:
    assert submit(document(spec_program={"source": QASM3, "language": "aqo"})).language is ProgramLanguage.AQO
    refused(
        lambda: submit(document(spec_program={"source": QASM3, "language": "cobol"})), "spec.program.language"
    )


def test_program_path_rules_still_apply(tmp_path: Path) -> None:
    (tmp_path / "p.qasm").write_text(QASM3, encoding="utf-8")
    assert submit(document(spec_program={"path": "p.qasm"}), tmp_path).program == QASM3
    refused(lambda: submit(document(spec_program={"path": "../p.qasm"}), tmp_path), "spec.program.path")
    refused(lambda: submit(document(spec_program={"path": "/etc/hostname"}), tmp_path), "spec.program.path")


# --------------------------------------------------------------------- entrypoint


def test_program_entrypoint_is_a_synonym_of_spec_entrypoint() -> None:
    assert submit(document(spec_program={"source": QASM3, "entrypoint": "run"})).entrypoint == "run"
    both = document(spec_program={"source": QASM3, "entrypoint": "run"}, spec_entrypoint="run")
    assert submit(both).entrypoint == "run"
    assert submit(document(spec_entrypoint="go")).entrypoint == "go"
    assert submit(document()).entrypoint == "main"


def test_entrypoints_that_differ_are_an_error_naming_both() -> None:
    doc = document(spec_program={"source": QASM3, "entrypoint": "run"}, spec_entrypoint="main")
    exc = refused(lambda: submit(doc), "spec.program.entrypoint")
    assert "spec.entrypoint" in violation(exc, "spec.program.entrypoint")


@pytest.mark.parametrize("where", ["spec_entrypoint", "program"])
def test_entrypoint_must_be_an_identifier(where: str) -> None:
    doc = (
        document(spec_entrypoint="1x")
        if where == "spec_entrypoint"
        else document(spec_program={"source": QASM3, "entrypoint": "a-b"})
    )
    refused(
        lambda: submit(doc), "spec.entrypoint" if where == "spec_entrypoint" else "spec.program.entrypoint"
    )


# ------------------------------------------------------------------------ priority


def test_priority_range_and_default() -> None:
    assert submit(document()).priority == 50
    assert submit(document(spec_priority=0)).priority == 0
    assert submit(document(spec_priority=100)).priority == 100
    for bad in (-1, 101, "5", True):
        refused(lambda bad=bad: submit(document(spec_priority=bad)), "spec.priority")


def test_scheduling_priority_is_spec_priority() -> None:
    assert submit(document(scheduling={"priority": 80})).priority == 80
    assert submit(document(scheduling={"priority": 80}, spec_priority=80)).priority == 80
    exc = refused(
        lambda: submit(document(scheduling={"priority": 80}, spec_priority=20)), "scheduling.priority"
    )
    assert "spec.priority" in violation(exc, "scheduling.priority")
    refused(lambda: submit(document(scheduling={"priority": 101})), "scheduling.priority")


# ------------------------------------------------------------------------ compiler


@pytest.mark.parametrize("section", ["compiler", "compiler_options"])
def test_compiler_optimization_level_numbers_or_strings(section: str) -> None:
    assert submit(document(**{f"spec_{section}": {"optimization_level": "3"}})).optimization_level == 3
    assert submit(document(**{f"spec_{section}": {"optimization_level": 0}})).optimization_level == 0
    for bad in (4, "-1", "high", 1.5):
        doc = document(**{f"spec_{section}": {"optimization_level": bad}})
        refused(lambda doc=doc: submit(doc), f"spec.{section}.optimization_level")


def test_spec_metadata_optimization_level_wins_over_compiler() -> None:
    doc = document(spec_metadata={"optimization_level": 0}, spec_compiler={"optimization_level": 3})
    assert submit(doc).optimization_level == 0


def test_compiler_and_compiler_options_that_differ_are_an_error() -> None:
    doc = document(spec_compiler={"optimization_level": 2}, spec_compiler_options={"optimization_level": "3"})
    exc = refused(lambda: submit(doc), "spec.compiler_options.optimization_level")
    assert "spec.compiler.optimization_level" in violation(exc, "spec.compiler_options.optimization_level")
    same = document(
        spec_compiler={"optimization_level": 2}, spec_compiler_options={"optimization_level": "2"}
    )
    assert submit(same).optimization_level == 2


@pytest.mark.parametrize(
    ("profile", "level"),
    [("debug", 0), ("latency", 1), ("balanced", 1), ("deterministic", 1), ("aggressive", 3)],
)
def test_target_profile_sets_the_optimization_level(profile: str, level: int) -> None:
    assert submit(document(spec_compiler={"target_profile": profile})).optimization_level == level
    assert submit(document(spec_compiler_options={"target_profile": profile})).optimization_level == level


def test_explicit_level_wins_over_target_profile() -> None:
    doc = document(spec_compiler={"target_profile": "aggressive", "optimization_level": 1})
    assert submit(doc).optimization_level == 1


def test_deterministic_profile_fixes_a_seed() -> None:
    assert submit(document(spec_compiler={"target_profile": "deterministic"})).seed == 0
    doc = document(spec_compiler={"target_profile": "deterministic"}, spec_metadata={"seed": 9})
    assert submit(doc).seed == 9
    assert submit(document(spec_compiler={"target_profile": "balanced"})).seed is None


def test_target_profile_enum_names_allowed_values() -> None:
    exc = refused(
        lambda: submit(document(spec_compiler={"target_profile": "fast"})), "spec.compiler.target_profile"
    )
    assert "balanced" in violation(exc, "spec.compiler.target_profile")
    assert "aggressive" in violation(exc, "spec.compiler.target_profile")


def test_compiler_defines_and_unknown_keys_are_kept() -> None:
    given = {"defines": {"N": "4", "DEPTH": 3}, "routing": "sabre", "future": {"x": 1}}
    assert submit(document(spec_compiler=given)).extensions["compiler"] == given
    refused(lambda: submit(document(spec_compiler={"defines": ["N"]})), "spec.compiler.defines")
    too_many = {f"K{i}": "v" for i in range(65)}
    refused(lambda: submit(document(spec_compiler={"defines": too_many})), "spec.compiler.defines")


def test_compiler_must_be_a_map() -> None:
    refused(lambda: submit(document(spec_compiler="O2")), "spec.compiler")


# -------------------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    "parts",
    [
        {"spec_metadata": {"seed": "7"}},
        {"spec_workload": {"kind": "QuantumJob", "seed": 7}},
        {"spec_workload": {"kind": "QuantumJob", "replay": {"deterministic_seed": 7}}},
        {"runtime": {"replay": {"enabled": True, "deterministic_seed": 7}}},
        {"spec_compiler": {"seed": "7"}},
        {"spec_compiler_options": {"seed": "7"}},
    ],
    ids=["metadata", "workload", "workload-replay", "runtime-replay", "compiler", "compiler_options"],
)
def test_each_seed_source(parts: dict[str, Any]) -> None:
    assert submit(document(**parts)).seed == 7


def test_seeds_that_agree_are_fine_and_seeds_that_differ_name_both() -> None:
    same = document(spec_metadata={"seed": 5}, spec_workload={"kind": "QuantumJob", "seed": 5})
    assert submit(same).seed == 5
    doc = document(spec_metadata={"seed": 5}, runtime={"replay": {"deterministic_seed": 6}})
    exc = refused(lambda: submit(doc), "runtime.replay.deterministic_seed")
    assert "spec.metadata.seed" in violation(exc, "runtime.replay.deterministic_seed")


@pytest.mark.parametrize("bad", [-1, 2**63, "x", 1.5])
def test_workload_seed_type_and_range(bad: Any) -> None:
    refused(lambda: submit(document(spec_workload={"kind": "QuantumJob", "seed": bad})), "spec.workload.seed")


# ------------------------------------------------------ metadata, parameters, deps


def test_spec_metadata_settings_stay_options() -> None:
    request = submit(document(spec_metadata={"shots": 100, "max_iters": 5, "optimizer": "COBYLA"}))
    assert request.shots == 100
    assert request.options == {"max_iters": "5", "optimizer": "COBYLA"}


def test_spec_metadata_values_checked_together() -> None:
    doc = document(spec_metadata={"shots": -1, "seed": "x", "timeout_seconds": 0})
    refused(lambda: submit(doc), "spec.metadata.shots", "spec.metadata.seed", "spec.metadata.timeout_seconds")


def test_parameters_list_is_bindings_and_map_is_run_parameters() -> None:
    assert submit(document(spec_parameters=[{"theta": 0.5}])).parameter_bindings == [{"theta": 0.5}]
    run = {"depth": 3, "ansatz": {"layers": [1, 2]}}
    request = submit(document(spec_parameters=run))
    assert request.parameter_bindings == [] and request.extensions["parameters"] == run
    refused(lambda: submit(document(spec_parameters="theta=1")), "spec.parameters")
    refused(lambda: submit(document(spec_parameters=[{"theta": "x"}])), "spec.parameters.0.theta")


def test_dependencies_job_ids_and_kept_refs() -> None:
    request = submit(document(spec_dependencies=["0f3a9c", "numpy==1.26.4", "qfs://job1/result.json"]))
    assert request.dependencies == ["0f3a9c"]
    assert request.extensions["dependencies"] == ["numpy==1.26.4", "qfs://job1/result.json"]
    refused(lambda: submit(document(spec_dependencies="numpy")), "spec.dependencies")
    refused(lambda: submit(document(spec_dependencies=[1])), "spec.dependencies.0")


def test_observables_stay() -> None:
    assert submit(document(spec_observables=[{"Z": 1.0}])).observables == [{"Z": 1.0}]


# ------------------------------------------------------------------------- target


def test_backend_target_overrides_spec_target() -> None:
    doc = document(spec_workload={"kind": "QuantumJob", "backend_target": "sim:stabilizer"})
    assert submit(doc).target == "sim:stabilizer"
    no_target = document(
        spec_target=None, spec_workload={"kind": "QuantumJob", "backend_target": "emu:manila"}
    )
    assert submit(no_target).target == "emu:manila"
    assert submit(document(spec_target=None)).target == "sim:statevector"  # Eigen's default


# ------------------------------------------------------------------- spec.workload


def test_workload_kind_required_and_enumerated() -> None:
    refused(lambda: submit(document(spec_workload={"execution_profile": "circuit"})), "spec.workload.kind")
    exc = refused(lambda: submit(document(spec_workload={"kind": "BatchJob"})), "spec.workload.kind")
    assert "HybridWorkflow" in violation(exc, "spec.workload.kind")


@pytest.mark.parametrize("kind", ["QuantumJob", "HybridWorkflow"])
def test_running_kinds(kind: str) -> None:
    assert submit(document(spec_workload={"kind": kind})).workload is WorkloadKind(kind)


def test_workload_fields_typed_and_unknown_keys_kept() -> None:
    workload = {
        "kind": "QuantumJob",
        "execution_profile": "circuit",
        "replayable": True,
        "artifact_lineage": {
            "root_ref": "qfs://r",
            "parent_ref": "p",
            "policy_snapshot_ref": "s",
            "execution_ref": "e",
        },
        "observability": {
            "traceparent": "00-abc-def-01",
            "trace_id": "abc",
            "trace_ref": "t",
            "emit_metrics": True,
        },
        "security": {"tenant_id": "t", "project_id": "p", "service_identity": "s", "fail_closed": False},
        "future_hint": [1, 2],
    }
    assert submit(document(spec_workload=workload)).extensions["workload"] == workload


@pytest.mark.parametrize(
    ("workload", "field"),
    [
        ({"replayable": "sometimes"}, "spec.workload.replayable"),
        ({"execution_profile": ["circuit"]}, "spec.workload.execution_profile"),
        ({"topology": {"partition_count": 0}}, "spec.workload.topology.partition_count"),
        ({"topology": {"cluster_id": 5}}, "spec.workload.topology.cluster_id"),
        ({"topology": {"preferred_workers": "w1"}}, "spec.workload.topology.preferred_workers"),
        ({"pipeline": {"input_refs": "a"}}, "spec.workload.pipeline.input_refs"),
        ({"replay": {"enabled": "maybe"}}, "spec.workload.replay.enabled"),
        ({"artifact_lineage": {"parent_ref": 3}}, "spec.workload.artifact_lineage.parent_ref"),
        ({"observability": {"emit_metrics": "lots"}}, "spec.workload.observability.emit_metrics"),
        ({"security": {"fail_closed": "no way"}}, "spec.workload.security.fail_closed"),
        ({"backend_target": ""}, "spec.workload.backend_target"),
    ],
)
def test_workload_field_types(workload: dict[str, Any], field: str) -> None:
    refused(lambda: submit(document(spec_workload={"kind": "QuantumJob", **workload})), field)


def test_benchmark_job_needs_a_seed_and_an_explicit_target() -> None:
    ok = submit(document(spec_workload={"kind": "BenchmarkJob", "seed": 3}))
    assert (ok.workload, ok.seed, ok.target) == (WorkloadKind.BENCHMARK_JOB, 3, "sim:local")
    exc = refused(lambda: submit(document(spec_workload={"kind": "BenchmarkJob"})), "spec.workload.seed")
    assert "seed" in str(exc)
    no_target = document(spec_target=None, spec_workload={"kind": "BenchmarkJob"}, spec_metadata={"seed": 3})
    refused(lambda: submit(no_target), "spec.target")
    by_backend = document(
        spec_target=None, spec_workload={"kind": "BenchmarkJob", "seed": 3, "backend_target": "sim:local"}
    )
    assert submit(by_backend).target == "sim:local"


def test_distributed_is_validated_then_unimplemented() -> None:
    hints = {"topology": {"cluster_id": "c", "partition_count": 2, "partition_ids": [0, 1]}}
    kind = "DistributedJob"
    exc = refused(
        lambda: submit(document(spec_target="cluster:auto", spec_workload={"kind": kind, **hints})),
        "spec.workload.kind",
        error=Unimplemented,
    )
    assert exc.code == "EIGEN_UNIMPLEMENTED" and kind in str(exc)
    bad = document(spec_priority=500, spec_workload={"kind": kind, **hints})
    refused(lambda: submit(bad), "spec.priority")  # invalid first: InvalidArgument


def test_a_pipeline_stage_waits_for_its_upstream_stages() -> None:
    pipeline = {
        "stage_id": "s2",
        "depends_on": ["job:abc", "def"],
        "input_refs": [
            "job:ghi/optimal_parameters",
            "qfs://jkl/output.counts.json",
            "qfs://pipeline/s1/state",
        ],
        "output_refs": ["a", "b"],
        "handoff_ref": "b",
    }
    request = submit(
        document(spec_dependencies=["job:zzz"], spec_workload={"kind": "PipelineJob", "pipeline": pipeline})
    )
    assert request.workload is WorkloadKind.PIPELINE_JOB
    assert request.dependencies == ["zzz", "abc", "def", "ghi", "jkl"]
    assert request.extensions["workload"]["pipeline"] == pipeline  # kept as given


def test_pipeline_handoff_must_be_an_output() -> None:
    pipeline = {"output_refs": ["a"], "handoff_ref": "z"}
    refused(
        lambda: submit(document(spec_workload={"kind": "PipelineJob", "pipeline": pipeline})),
        "spec.workload.pipeline.handoff_ref",
    )
    refused(
        lambda: submit(document(spec_workload={"kind": "PipelineJob", "pipeline": {"handoff_ref": "z"}})),
        "spec.workload.pipeline.handoff_ref",
    )


@pytest.mark.parametrize(
    "parts",
    [
        {"spec_metadata": {"replay_of": "abc123"}},
        {"spec_workload": {"kind": "ReplayJob", "replay_of": "abc123"}},
        {"spec_workload": {"kind": "ReplayJob", "artifact_lineage": {"parent_ref": "qfs://abc123"}}},
        {"spec_workload": {"kind": "ReplayJob", "artifact_lineage": {"parent_ref": "abc123"}}},
    ],
    ids=["metadata", "workload", "lineage-qfs", "lineage-id"],
)
def test_replay_job_names_the_job_it_replays(parts: dict[str, Any]) -> None:
    doc = document(spec_workload={"kind": "ReplayJob"})
    for key, value in parts.items():
        doc["spec"][key.removeprefix("spec_")] = value
    request = submit(doc)
    assert request.workload is WorkloadKind.REPLAY_JOB
    assert request.options["replay_of"] == "abc123"
    assert request.program == QASM3 and request.program_uri is None


def test_replay_job_without_program_reads_the_stored_one() -> None:
    doc = document(spec_program=None, spec_workload={"kind": "ReplayJob", "replay_of": "abc123"})
    request = submit(doc)
    assert (request.program, request.program_uri) == ("", "qfs://abc123")
    assert request.language is ProgramLanguage.QASM3  # placeholder until the kernel reads it


def test_replay_job_refusals() -> None:
    refused(lambda: submit(document(spec_workload={"kind": "ReplayJob"})), "spec.workload.kind")
    refused(
        lambda: submit(document(spec_program=None, spec_workload={"kind": "ReplayJob"})), "spec.workload.kind"
    )
    two = document(spec_metadata={"replay_of": "a1"}, spec_workload={"kind": "ReplayJob", "replay_of": "b2"})
    exc = refused(lambda: submit(two), "spec.workload.replay_of")
    assert "spec.metadata.replay_of" in violation(exc, "spec.workload.replay_of")
    bad = document(spec_workload={"kind": "ReplayJob", "artifact_lineage": {"parent_ref": "s3://x/y"}})
    refused(lambda: submit(bad), "spec.workload.artifact_lineage.parent_ref")


# ---------------------------------------------------------------- optional sections


def test_runtime_fields() -> None:
    runtime = {
        "mode": "hybrid",
        "retry": {"max_attempts": 3, "backoff": "exponential"},
        "timeout": {"queue_seconds": 60, "execution_seconds": 240, "result_seconds": 30},
        "replay": {"enabled": True, "deterministic_seed": 4},
    }
    request = submit(document(runtime=runtime))
    assert request.timeout_seconds == 300.0  # queue + execution: Eigen counts from submission
    assert request.seed == 4
    assert request.extensions["runtime"] == runtime


def test_runtime_timeout_parts_and_metadata_precedence() -> None:
    assert submit(document(runtime={"timeout": {"execution_seconds": 90}})).timeout_seconds == 90.0
    assert submit(document(runtime={"timeout": {"queue_seconds": 30}})).timeout_seconds == 30.0
    assert submit(document(runtime={"timeout": {"result_seconds": 30}})).timeout_seconds is None
    doc = document(runtime={"timeout": {"execution_seconds": 90}}, spec_metadata={"timeout_seconds": 12.5})
    assert submit(doc).timeout_seconds == 12.5


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        ({"mode": "warp"}, "runtime.mode"),
        ({"retry": {"max_attempts": 0}}, "runtime.retry.max_attempts"),
        ({"retry": {"backoff": "random"}}, "runtime.retry.backoff"),
        ({"timeout": {"queue_seconds": 0}}, "runtime.timeout.queue_seconds"),
        ({"timeout": {"execution_seconds": -5}}, "runtime.timeout.execution_seconds"),
        ({"timeout": {"result_seconds": "soon"}}, "runtime.timeout.result_seconds"),
        ({"timeout": {"execution_seconds": 10**9}}, "runtime.timeout.execution_seconds"),
        ({"replay": {"deterministic_seed": -1}}, "runtime.replay.deterministic_seed"),
        ({"replay": {"enabled": "perhaps"}}, "runtime.replay.enabled"),
    ],
)
def test_runtime_refusals(runtime: dict[str, Any], field: str) -> None:
    refused(lambda: submit(document(runtime=runtime)), field)


def test_resources_fields() -> None:
    resources = {
        "cpu": 4,
        "memory_mb": 2048,
        "gpu": {"count": 1, "vendor": "nvidia", "memory_mb": 16000},
        "quantum": {"qubits": 5, "backend_family": "superconducting", "minimum_fidelity": 0.99},
    }
    assert submit(document(resources=resources)).extensions["resources"] == resources


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"cpu": 0}, "resources.cpu"),
        ({"memory_mb": -1}, "resources.memory_mb"),
        ({"gpu": {"count": -1}}, "resources.gpu.count"),
        ({"gpu": 2}, "resources.gpu"),
        ({"quantum": {"qubits": 0}}, "resources.quantum.qubits"),
        ({"quantum": {"minimum_fidelity": 1.5}}, "resources.quantum.minimum_fidelity"),
    ],
)
def test_resources_refusals(resources: dict[str, Any], field: str) -> None:
    refused(lambda: submit(document(resources=resources)), field)


def test_scheduling_fields() -> None:
    scheduling = {
        "queue": "interactive",
        "policy": {"mode": "latency"},
        "affinity": {"region": "eu", "gpu": True},
    }
    assert submit(document(scheduling=scheduling)).extensions["scheduling"] == scheduling


@pytest.mark.parametrize(
    ("scheduling", "field"),
    [
        ({"policy": {"mode": "fastest"}}, "scheduling.policy.mode"),
        ({"queue": ""}, "scheduling.queue"),
        ({"affinity": {"region": ["eu"]}}, "scheduling.affinity.region"),
        ({"affinity": {f"k{i}": "v" for i in range(65)}}, "scheduling.affinity"),
        ({"priority": "high"}, "scheduling.priority"),
    ],
)
def test_scheduling_refusals(scheduling: dict[str, Any], field: str) -> None:
    refused(lambda: submit(document(scheduling=scheduling)), field)


def test_observability_fields_and_trace_synonym() -> None:
    given = {"tracing": True, "trace": "required", "metrics": False, "explainability_level": "L3_FORENSIC"}
    assert submit(document(observability=given)).extensions["observability"] == given
    refused(
        lambda: submit(document(observability={"tracing": False, "trace": "required"})), "observability.trace"
    )
    refused(lambda: submit(document(observability={"trace": "always"})), "observability.trace")
    refused(
        lambda: submit(document(observability={"explainability_level": "L4"})),
        "observability.explainability_level",
    )
    refused(lambda: submit(document(observability={"metrics": "some"})), "observability.metrics")


def test_security_fields_and_network_forms() -> None:
    given = {
        "sandbox": "strict",
        "filesystem": {"readonly": True},
        "network": "restricted",
        "artifacts": {"require_signatures": True},
    }
    assert submit(document(security=given)).extensions["security"] == given  # kept as written
    assert submit(document(security={"network": {"mode": "disabled"}})).extensions["security"] == {
        "network": {"mode": "disabled"}
    }
    refused(lambda: submit(document(security={"network": "wide-open"})), "security.network.mode")
    refused(lambda: submit(document(security={"sandbox": "none"})), "security.sandbox")
    refused(
        lambda: submit(document(security={"filesystem": {"readonly": "rw"}})), "security.filesystem.readonly"
    )


def test_artifacts_fields() -> None:
    given = {"persist_results": True, "retention": {"days": 30}}
    assert submit(document(artifacts=given)).extensions["artifacts"] == given
    refused(lambda: submit(document(artifacts={"retention": {"days": -1}})), "artifacts.retention.days")
    refused(lambda: submit(document(artifacts={"persist_results": "forever"})), "artifacts.persist_results")


# ------------------------------------------------------------- every violation at once


def test_every_violation_is_listed_at_once() -> None:
    doc = document(
        metadata={"name": "a b", "owner": "me"},
        spec_priority=101,
        spec_entrypoint="main",
        spec_program={"source": QASM3, "path": "p.qasm", "entrypoint": "other"},
        spec_workload={"kind": "Nope"},
        spec_compiler={"target_profile": "fast"},
        spec_metadata={"shots": "many"},
        runtime={"mode": "warp"},
        scheduling={"priority": 7},
        surprise=1,
    )
    exc = refused(
        lambda: submit(doc),
        "metadata.name",
        "metadata.owner",
        "spec.priority",
        "spec.program",
        "spec.program.entrypoint",
        "spec.workload.kind",
        "spec.compiler.target_profile",
        "spec.metadata.shots",
        "runtime.mode",
        "scheduling.priority",
        "surprise",
    )
    assert exc.code == "EIGEN_INVALID_ARGUMENT"


# ------------------------------------------------------------------- v0.1 migration


def test_v01_still_migrates_and_carries_compiler_options() -> None:
    text = (
        "apiVersion: eigen.os/v0.1\nkind: QuantumJob\nmetadata: {name: old, owner: x}\n"
        "spec:\n  program: 'OPENQASM 3;'\n  compiler_options: {optimization_level: '0'}\n  retries: 3\n"
    )
    request = jobspec_from_text(text, None)
    assert (request.name, request.optimization_level) == ("old", 0)
    assert request.extensions == {"compiler_options": {"optimization_level": "0"}}


# -------------------------------------------------------------------- document_of


ROUND_TRIPS = {
    "minimal": document(),
    "state-prep": yaml.safe_load(STATE_PREP.replace("path: program.eigen.py", "source: PROGRAM")),
    "everything": document(
        metadata={"name": "all", "namespace": "lab", "labels": {"a": "b"}, "annotations": {"n": "v"}},
        spec_priority=70,
        spec_program={"source": QASM3, "entrypoint": "main", "language": "qasm3"},
        spec_compiler={"target_profile": "deterministic", "defines": {"N": 2}},
        spec_compiler_options={"routing": "sabre"},
        spec_metadata={"shots": 10, "max_iters": 3},
        spec_parameters={"depth": 2},
        spec_dependencies=["job1", "numpy==2.0"],
        spec_observables=[{"Z": 1.0}],
        spec_workload={"kind": "BenchmarkJob", "backend_target": "sim:stabilizer", "future": 1},
        runtime={"timeout": {"queue_seconds": 5, "execution_seconds": 10}, "mode": "benchmark"},
        resources={"cpu": 2},
        scheduling={"priority": 70, "queue": "batch"},
        observability={"tracing": True},
        security={"sandbox": "strict"},
        artifacts={"persist_results": False},
    ),
    "replay": document(
        spec_program=None,
        spec_workload={"kind": "ReplayJob", "artifact_lineage": {"parent_ref": "qfs://abc"}},
    ),
    "bindings": document(spec_parameters=[{"theta": 1.0}], spec_metadata={"seed": 4, "timeout_seconds": 9.5}),
    "outputs": document(spec_metadata={"outputs": "statevector,counts"}),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIPS))
def test_document_of_round_trips(name: str, tmp_path: Path) -> None:
    doc = copy.deepcopy(ROUND_TRIPS[name])
    program = doc["spec"].get("program") or {}
    if program.get("source") == "PROGRAM":
        program["source"] = QASM3
    first = submit(doc)
    written = document_of(first, "program.txt")
    assert written["apiVersion"] == "eigen.os/v1" and written["kind"] == "QuantumJob"
    (tmp_path / "program.txt").write_text(first.program, encoding="utf-8")
    if first.program:
        assert written["spec"]["program"] == {"path": "program.txt", "language": first.language.value}
    again = submit(written, tmp_path)
    assert again == first
    assert parse_jobspec(written).to_request(first.program) == first


def test_document_of_puts_sections_back_where_they_came_from() -> None:
    first = submit(ROUND_TRIPS["everything"])
    written = document_of(first, "p.qasm")
    assert written["metadata"] == {
        "name": "all",
        "namespace": "lab",
        "labels": {"a": "b"},
        "annotations": {"n": "v"},
    }
    assert written["scheduling"] == {"priority": 70, "queue": "batch"}
    assert written["spec"]["compiler"] == {"target_profile": "deterministic", "defines": {"N": 2}}
    assert written["spec"]["parameters"] == {"depth": 2}
    assert sorted(written["spec"]["dependencies"]) == ["job1", "numpy==2.0"]
    assert written["spec"]["workload"]["future"] == 1
    assert written["spec"]["metadata"]["seed"] == 0 and written["spec"]["metadata"]["timeout_seconds"] == 15.0


def test_document_of_a_request_from_the_api() -> None:
    request = JobRequest(program=QASM3, language=ProgramLanguage.QASM3, workload=WorkloadKind.HYBRID_WORKFLOW)
    written = document_of(request, "program.qasm")
    assert written["spec"]["workload"] == {"kind": "HybridWorkflow"}
    assert parse_jobspec(written).to_request(QASM3) == request


# ---------------------------------------------------------------- odd documents


_ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**70,
    "9" * 5000,
    "x",
    "",
    True,
    1.5,
    float("nan"),
    [],
    {},
    [1, {"a": None}],
    {"kind": "ReplayJob"},
    {1: 2},
    "qfs://abc",
    "required",
    {"mode": "x"},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def test_any_damaged_document_is_a_request_or_a_field_error() -> None:
    """Replacing values of valid documents by odd ones (wrong types, huge numbers, NaN,
    non-string keys) never raises anything but an EigenError."""
    import random

    chooser = random.Random(15)
    for _ in range(400):
        doc = copy.deepcopy(chooser.choice(list(ROUND_TRIPS.values())))
        for _ in range(chooser.randint(1, 3)):
            path = chooser.choice(_paths(doc))
            parent = doc
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = copy.deepcopy(chooser.choice(_ODD_VALUES))
        try:
            spec = parse_jobspec(doc)
            request = spec.to_request(program_source(spec, None))
        except EigenError as exc:
            assert exc.violations
            continue
        assert parse_jobspec(document_of(request, "p.qasm")).to_request(request.program) == request
