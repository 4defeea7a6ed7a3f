"""JobSpec (job.yaml) parsing: v1, legacy v0.1 migrated to v1, defaults, field-named errors.

File reading, path rules and size limits are in test_models_jobspec_files.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from eigen.errors import InvalidArgument
from eigen.jobfile import jobspec_from_text, load_job_file
from eigen.models.job import JobRequest
from eigen.models.jobspec import API_V1, JobSpec, parse_jobspec
from eigen.models.program import ProgramLanguage

QASM2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nh q[0];\n'
QASM3 = "OPENQASM 3.0;\nqubit[1] q;\nbit[1] c;\nh q[0];\nc = measure q;\n"
EIGEN_LANG = "from eigen_lang import hybrid_program\n\n@hybrid_program\ndef main():\n    pass\n"


def write_job(folder: Path, yaml_text: str, files: dict[str, str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {}).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    job = folder / "job.yaml"
    job.write_text(yaml_text, encoding="utf-8")
    return job


def v1(spec_lines: str = "  program:\n    source: 'OPENQASM 3.0;'\n", head: str = "") -> str:
    return f"apiVersion: eigen.os/v1\nkind: QuantumJob\n{head}spec:\n{spec_lines}"


def invalid(call: Callable[[], Any], field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        call()
    exc = info.value
    assert exc.code == "EIGEN_INVALID_ARGUMENT"
    assert exc.violations, "an InvalidArgument must carry field violations"
    assert exc.violations[0].field == field, exc.violations
    assert field in str(exc)
    return exc


def from_text(text: str, base: Path | None = None) -> JobRequest:
    return jobspec_from_text(text, base)


# --------------------------------------------------------------------------- v1


def test_v1_with_path(tmp_path: Path) -> None:
    job = write_job(
        tmp_path,
        v1(
            "  target: sim:stabilizer\n  program:\n    path: prog.qasm\n",
            "metadata:\n  name: bell\n",
        ),
        {"prog.qasm": QASM2},
    )
    request = load_job_file(job)
    assert isinstance(request, JobRequest)
    assert request.program == QASM2
    assert request.language is ProgramLanguage.QASM2
    assert request.name == "bell"
    assert request.target == "sim:stabilizer"


def test_v1_with_path_in_subfolder(tmp_path: Path) -> None:
    job = write_job(tmp_path, v1("  program:\n    path: src/prog.qasm\n"), {"src/prog.qasm": QASM3})
    request = load_job_file(job)
    assert request.program == QASM3
    assert request.language is ProgramLanguage.QASM3


def test_v1_with_inline_source() -> None:
    text = v1("  program:\n    source: |\n      OPENQASM 3.0;\n      qubit q;\n")
    request = from_text(text)
    assert request.program == "OPENQASM 3.0;\nqubit q;\n"
    assert request.language is ProgramLanguage.QASM3


def test_defaults() -> None:
    request = from_text(v1())
    # job.py is moving to `shots: int | None` + `shots_or_default`; either way 1024 applies.
    assert request.shots in (None, 1024)
    assert getattr(request, "shots_or_default", request.shots) == 1024
    assert request.priority == 50
    assert request.target == "sim:statevector"
    assert request.entrypoint == "main"
    assert request.name == "job"
    assert request.seed is None
    assert request.optimization_level is None
    assert request.options == {}


def test_parse_jobspec_returns_v1_model() -> None:
    spec = parse_jobspec({"apiVersion": API_V1, "spec": {"program": {"source": QASM3}}})
    assert isinstance(spec, JobSpec)
    assert spec.api_version == API_V1
    assert spec.kind == "QuantumJob"
    assert spec.spec.program.source == QASM3


# ------------------------------------------------------------ language detection


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (QASM2, ProgramLanguage.QASM2),
        (QASM3, ProgramLanguage.QASM3),
        ("// a comment\n\nOPENQASM 2.0;\nqreg q[1];\n", ProgramLanguage.QASM2),
        ("OPENQASM 3;\nqubit q;\n", ProgramLanguage.QASM3),
    ],
    ids=["qasm2", "qasm3", "qasm2-after-comment", "qasm3-short-header"],
)
def test_qasm_file_language_from_header(tmp_path: Path, source: str, expected: ProgramLanguage) -> None:
    job = write_job(tmp_path, v1("  program:\n    path: prog.qasm\n"), {"prog.qasm": source})
    assert load_job_file(job).language is expected


def test_py_file_is_eigen_lang_whatever_its_text(tmp_path: Path) -> None:
    job = write_job(tmp_path, v1("  program:\n    path: program.eigen.py\n"), {"program.eigen.py": "x = 1\n"})
    assert load_job_file(job).language is ProgramLanguage.EIGEN_LANG


def test_inline_eigen_lang_sniffed() -> None:
    text = v1("  program:\n    source: |\n" + "".join(f"      {line}\n" for line in EIGEN_LANG.splitlines()))
    assert from_text(text).language is ProgramLanguage.EIGEN_LANG


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("qasm2", ProgramLanguage.QASM2),
        ("qasm3", ProgramLanguage.QASM3),
        ("eigen-lang", ProgramLanguage.EIGEN_LANG),
        ("aqo", ProgramLanguage.AQO),
    ],
)
def test_explicit_language_wins_over_header(tmp_path: Path, name: str, expected: ProgramLanguage) -> None:
    job = write_job(
        tmp_path,
        v1(f"  program:\n    path: prog.qasm\n    language: {name}\n"),
        {"prog.qasm": QASM2},
    )
    assert load_job_file(job).language is expected


def test_explicit_language_wins_over_py_extension(tmp_path: Path) -> None:
    job = write_job(tmp_path, v1("  program:\n    path: p.py\n    language: qasm3\n"), {"p.py": QASM3})
    assert load_job_file(job).language is ProgramLanguage.QASM3


def test_unknown_language_names_field() -> None:
    text = v1("  program:\n    source: 'OPENQASM 3;'\n    language: cobol\n")
    invalid(lambda: from_text(text), "spec.program.language")


# ------------------------------------------------------------------------ v0.1


def test_v01_program_path(tmp_path: Path) -> None:
    text = "apiVersion: eigen.os/v0.1\nkind: QuantumJob\nspec:\n  program_path: prog.qasm\n"
    job = write_job(tmp_path, text, {"prog.qasm": QASM2})
    request = load_job_file(job)
    assert request.program == QASM2
    assert request.language is ProgramLanguage.QASM2


def test_v01_program_inline_string() -> None:
    text = "apiVersion: eigen.os/v0.1\nspec:\n  program: |\n    OPENQASM 2.0;\n    qreg q[1];\n"
    request = from_text(text)
    assert request.program == "OPENQASM 2.0;\nqreg q[1];\n"
    assert request.language is ProgramLanguage.QASM2


def test_v01_program_string_naming_a_file(tmp_path: Path) -> None:
    text = "apiVersion: eigen.os/v0.1\nspec:\n  program: circuits/bell.qasm\n"
    job = write_job(tmp_path, text, {"circuits/bell.qasm": QASM3})
    request = load_job_file(job)
    assert request.program == QASM3


def test_v01_is_migrated_to_v1() -> None:
    spec = parse_jobspec({"apiVersion": "eigen.os/v0.1", "spec": {"program_path": "p.qasm", "priority": 7}})
    assert spec.api_version == API_V1
    assert spec.spec.program.path == "p.qasm"
    assert spec.spec.program.source is None
    assert spec.spec.priority == 7


def test_v01_unknown_keys_ignored() -> None:
    text = (
        "apiVersion: eigen.os/v0.1\nkind: QuantumJob\nlegacy_top: 1\n"
        "metadata:\n  name: old-job\n"
        "spec:\n  program: 'OPENQASM 3;'\n  retries: 3\n  backend_hint: fast\n"
        "  target: sim:stabilizer\n  metadata:\n    shots: 10\n"
    )
    request = from_text(text)
    assert request.name == "old-job"
    assert request.target == "sim:stabilizer"
    assert request.shots == 10
    assert "retries" not in request.options


def test_v01_bad_values_still_name_fields() -> None:
    text = "apiVersion: eigen.os/v0.1\nmetadata:\n  name: 'a b'\nspec:\n  program: 'OPENQASM 3;'\n"
    invalid(lambda: from_text(text), "metadata.name")
    text = "apiVersion: eigen.os/v0.1\nspec:\n  program: 'OPENQASM 3;'\n  priority: 200\n"
    invalid(lambda: from_text(text), "spec.priority")


def test_v01_spec_not_mapping() -> None:
    invalid(lambda: from_text("apiVersion: eigen.os/v0.1\nspec: 3\n"), "spec")


# ------------------------------------------------------------ unknown keys (v1)


def test_v1_unknown_top_level_key_rejected_naming_it() -> None:
    exc = invalid(lambda: from_text(v1(head="surprise: 1\n")), "surprise")
    assert "unknown" in exc.violations[0].description


def test_v1_unknown_key_in_spec_rejected() -> None:
    invalid(lambda: from_text(v1("  program:\n    source: 'OPENQASM 3;'\n  shotz: 5\n")), "spec.shotz")


def test_v1_unknown_key_in_program_rejected() -> None:
    text = v1("  program:\n    source: 'OPENQASM 3;'\n    paht: x.qasm\n")
    invalid(lambda: from_text(text), "spec.program.paht")


def test_v1_unknown_keys_in_compiler_kept_and_in_metadata_refused() -> None:
    # JobSpec 1.0: metadata has name, namespace, labels and annotations only; unknown
    # compiler keys are kept (forward compatible) on the request's extensions.
    spec_lines = (
        "  program:\n    source: 'OPENQASM 3;'\n"
        "  compiler:\n    routing: sabre\n    future_knob: {deep: true}\n"
    )
    head = "metadata:\n  name: n1\n  annotations:\n    a: b\n"
    request = parse_jobspec(yaml.safe_load(v1(spec_lines, head))).to_request("OPENQASM 3;")
    assert request.name == "n1"
    assert request.annotations == {"a": "b"}
    assert request.extensions["compiler"] == {"routing": "sabre", "future_knob": {"deep": True}}
    invalid(lambda: from_text(v1(spec_lines, head + "  owner_team: qa\n")), "metadata.owner_team")


# ------------------------------------------------------------- spec.metadata


def test_spec_metadata_typed_fields_and_options() -> None:
    text = v1(
        "  program:\n    source: 'OPENQASM 3;'\n  metadata:\n"
        "    shots: 2048\n    seed: 42\n    optimization_level: 2\n"
        "    max_iters: 100\n    optimizer: COBYLA\n    learning_rate: 0.1\n    warm: true\n"
    )
    request = from_text(text)
    assert request.shots == 2048
    assert request.seed == 42
    assert request.optimization_level == 2
    assert request.options == {
        "max_iters": "100",
        "optimizer": "COBYLA",
        "learning_rate": "0.1",
        "warm": "true",
    }
    assert all(isinstance(v, str) for v in request.options.values())


def test_spec_metadata_numbers_as_strings_accepted() -> None:
    text = v1("  program:\n    source: 'OPENQASM 3;'\n  metadata:\n    shots: '512'\n    seed: '7'\n")
    request = from_text(text)
    assert (request.shots, request.seed) == (512, 7)


def test_optimization_level_from_compiler_section() -> None:
    text = v1("  program:\n    source: 'OPENQASM 3;'\n  compiler:\n    optimization_level: 1\n")
    assert from_text(text).optimization_level == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("shots", "abc"),
        ("shots", "1.5"),
        ("shots", "-1"),
        ("shots", "true"),
        ("seed", "xyz"),
        ("seed", "-3"),
        ("optimization_level", "7"),
        ("optimization_level", "high"),
    ],
)
def test_bad_spec_metadata_values_name_their_field(key: str, value: str) -> None:
    text = v1(f"  program:\n    source: 'OPENQASM 3;'\n  metadata:\n    {key}: {value}\n")
    invalid(lambda: from_text(text), f"spec.metadata.{key}")


def test_spec_metadata_nested_value_names_its_key() -> None:
    text = v1("  program:\n    source: 'OPENQASM 3;'\n  metadata:\n    grid: [1, 2]\n")
    with pytest.raises(InvalidArgument) as info:
        from_text(text)
    assert info.value.violations[0].field.startswith("spec.metadata.grid")


# ---------------------------------------------------------- priority and name


@pytest.mark.parametrize("priority", [0, 100, 37])
def test_priority_in_range(priority: int) -> None:
    text = v1(f"  program:\n    source: 'OPENQASM 3;'\n  priority: {priority}\n")
    assert from_text(text).priority == priority


@pytest.mark.parametrize("priority", ["101", "-1", "high", "1000"])
def test_priority_out_of_range_names_field(priority: str) -> None:
    text = v1(f"  program:\n    source: 'OPENQASM 3;'\n  priority: {priority}\n")
    invalid(lambda: from_text(text), "spec.priority")


def test_priority_boolean_rejected() -> None:
    text = v1("  program:\n    source: 'OPENQASM 3;'\n  priority: yes\n")
    invalid(lambda: from_text(text), "spec.priority")


@pytest.mark.parametrize("name", ["a", "bell-2.v1_x", "A" * 128, "...", "0"])
def test_good_names(name: str) -> None:
    assert from_text(v1(head=f"metadata:\n  name: '{name}'\n")).name == name


@pytest.mark.parametrize(
    "name",
    ["a b", "A" * 129, "", "x/y", "naïve", "tab\there", "semi;colon"],
    ids=["space", "129-chars", "empty", "slash", "non-ascii", "tab", "semicolon"],
)
def test_bad_names_name_the_field(name: str) -> None:
    text = v1(head=f'metadata:\n  name: "{name}"\n')
    invalid(lambda: from_text(text), "metadata.name")


def test_name_with_trailing_newline_rejected() -> None:
    invalid(lambda: from_text(v1(head='metadata:\n  name: "abc\\n"\n')), "metadata.name")


# ------------------------------------------------------- document-level errors


def test_both_path_and_source_rejected(tmp_path: Path) -> None:
    job = write_job(
        tmp_path, v1("  program:\n    path: p.qasm\n    source: 'OPENQASM 3;'\n"), {"p.qasm": QASM3}
    )
    invalid(lambda: load_job_file(job), "spec.program")


def test_neither_path_nor_source_rejected() -> None:
    invalid(lambda: from_text(v1("  program:\n    language: qasm3\n")), "spec.program")


def test_program_missing_rejected() -> None:
    invalid(lambda: from_text(v1("  target: sim:statevector\n")), "spec.program")


def test_empty_inline_source_rejected() -> None:
    invalid(lambda: from_text(v1("  program:\n    source: '   '\n")), "spec.program")


def test_invalid_yaml_reports_line() -> None:
    text = "apiVersion: eigen.os/v1\nspec:\n  program: [unclosed\n  target: x\n"
    exc = invalid(lambda: from_text(text), "(document)")
    assert "line" in exc.violations[0].description


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n", ""])
def test_document_not_a_mapping(text: str) -> None:
    invalid(lambda: from_text(text), "(document)")


def test_parse_jobspec_rejects_non_mapping() -> None:
    invalid(lambda: parse_jobspec(["apiVersion"]), "(document)")


def test_missing_api_version() -> None:
    invalid(lambda: from_text("kind: QuantumJob\nspec:\n  program:\n    source: x\n"), "apiVersion")


@pytest.mark.parametrize("version", ["eigen.os/v2", "eigen.os/v1beta", "v1", "1"])
def test_unknown_api_version(version: str) -> None:
    text = f"apiVersion: '{version}'\nspec:\n  program:\n    source: 'OPENQASM 3;'\n"
    invalid(lambda: from_text(text), "apiVersion")


@pytest.mark.parametrize("kind", ["QuantumBatch", "quantumjob", "Job"])
def test_kind_other_than_quantum_job(kind: str) -> None:
    text = f"apiVersion: eigen.os/v1\nkind: {kind}\nspec:\n  program:\n    source: x\n"
    invalid(lambda: from_text(text), "kind")


def test_v01_kind_other_than_quantum_job() -> None:
    text = "apiVersion: eigen.os/v0.1\nkind: Other\nspec:\n  program: 'OPENQASM 3;'\n"
    invalid(lambda: from_text(text), "kind")
