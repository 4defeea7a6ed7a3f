"""JobSpec files: program path rules (checked before any read), size limits, encodings.

Program paths are relative and stay inside the job folder: absolute paths, ``..`` and
symbolic links that lead out are rejected on ``spec.program.path`` before anything is read.
Limits: 64 KiB of YAML, 256 KiB of program.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from eigen.errors import InvalidArgument
from eigen.jobfile import jobspec_from_text, load_job_file, safe_program_path
from eigen.models.jobspec import MAX_JOBSPEC_BYTES, parse_jobspec
from eigen.models.program import MAX_PROGRAM_BYTES, ProgramLanguage

QASM3 = "OPENQASM 3.0;\nqubit q;\n"
SECRET = "OPENQASM 3.0;\n// SECRET outside the job folder\nqubit q;\n"
PATH_FIELD = "spec.program.path"


def job_text(path: str) -> str:
    return f"apiVersion: eigen.os/v1\nspec:\n  program:\n    path: {path!r}\n"


def invalid(call: Callable[[], Any], field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        call()
    exc = info.value
    assert exc.violations, "an InvalidArgument must carry field violations"
    assert exc.violations[0].field == field, exc.violations
    return exc


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """tmp/outside.qasm (a valid program outside) and tmp/job/ (the job folder)."""
    outside = tmp_path / "outside.qasm"
    outside.write_text(SECRET, encoding="utf-8")
    job = tmp_path / "job"
    job.mkdir()
    (job / "sub").mkdir()
    return {"root": tmp_path, "job": job, "outside": outside}


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every path opened through Path.open or open() while the test runs."""
    seen: list[str] = []
    real_path_open = Path.open
    real_open = builtins.open

    def path_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(self))
        return real_path_open(self, *args, **kwargs)

    def plain_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(Path, "open", path_open)
    monkeypatch.setattr(builtins, "open", plain_open)
    yield seen


def escaping_paths(layout: dict[str, Path]) -> dict[str, str]:
    outside = layout["outside"]
    job = layout["job"]
    os.symlink(outside, job / "link.qasm")
    os.symlink(layout["root"], job / "dirlink")
    return {
        "absolute": str(outside),
        "dotdot": "../outside.qasm",
        "sub-dotdot": "sub/../../outside.qasm",
        "inner-dotdot": "sub/../x.qasm",
        "backslash-dotdot": "sub\\..\\..\\outside.qasm",
        "symlink-file": "link.qasm",
        "symlink-dir": "dirlink/outside.qasm",
    }


ESCAPES = [
    "absolute",
    "dotdot",
    "sub-dotdot",
    "inner-dotdot",
    "backslash-dotdot",
    "symlink-file",
    "symlink-dir",
]


@pytest.mark.parametrize("kind", ESCAPES)
def test_escaping_path_rejected_before_any_read(
    layout: dict[str, Path], opened: list[str], kind: str
) -> None:
    path = escaping_paths(layout)[kind]
    # Text, not load_job_file: nothing at all should need opening.
    invalid(lambda: jobspec_from_text(job_text(path), layout["job"]), PATH_FIELD)
    assert opened == []
    assert layout["outside"].read_text(encoding="utf-8") == SECRET  # it exists and is valid


@pytest.mark.parametrize("kind", ESCAPES)
def test_escaping_path_rejected_via_load_job_file(
    layout: dict[str, Path], opened: list[str], kind: str
) -> None:
    path = escaping_paths(layout)[kind]
    job_file = layout["job"] / "job.yaml"
    job_file.write_text(job_text(path), encoding="utf-8")
    exc = invalid(lambda: load_job_file(job_file), PATH_FIELD)
    assert "SECRET" not in str(exc)
    assert set(opened) == {str(job_file)}  # only job.yaml, never the program


@pytest.mark.parametrize("path", ["/etc/hostname", "C:/x.qasm", "C:x.qasm", "\\\\server\\x.qasm"])
def test_absolute_like_paths_rejected(layout: dict[str, Path], path: str) -> None:
    invalid(lambda: jobspec_from_text(job_text(path), layout["job"]), PATH_FIELD)


def test_empty_path_rejected(layout: dict[str, Path]) -> None:
    invalid(lambda: jobspec_from_text(job_text("  "), layout["job"]), PATH_FIELD)


def test_safe_program_path_inside_is_resolved(layout: dict[str, Path]) -> None:
    (layout["job"] / "sub" / "p.qasm").write_text(QASM3, encoding="utf-8")
    resolved = safe_program_path(layout["job"], "sub/./p.qasm")
    assert resolved == (layout["job"] / "sub" / "p.qasm").resolve()


def test_symlink_inside_the_folder_is_allowed(layout: dict[str, Path]) -> None:
    (layout["job"] / "real.qasm").write_text(QASM3, encoding="utf-8")
    os.symlink("real.qasm", layout["job"] / "alias.qasm")
    request = jobspec_from_text(job_text("alias.qasm"), layout["job"])
    assert request.program == QASM3


def test_job_folder_reached_through_a_symlink_works(layout: dict[str, Path]) -> None:
    (layout["job"] / "p.qasm").write_text(QASM3, encoding="utf-8")
    os.symlink(layout["job"], layout["root"] / "job-link")
    job_file = layout["root"] / "job-link" / "job.yaml"
    job_file.write_text(job_text("p.qasm"), encoding="utf-8")
    assert load_job_file(job_file).program == QASM3


@pytest.mark.parametrize("path", ["missing.qasm", "sub", "sub/missing.qasm"])
def test_missing_program_file(layout: dict[str, Path], path: str) -> None:
    invalid(lambda: jobspec_from_text(job_text(path), layout["job"]), PATH_FIELD)


def test_path_without_job_folder_rejected() -> None:
    invalid(lambda: jobspec_from_text(job_text("p.qasm"), None), PATH_FIELD)


# ------------------------------------------------------------------ size limits


def test_program_at_limit_accepted(layout: dict[str, Path]) -> None:
    head = "OPENQASM 3.0;\n//"
    body = head + "x" * (MAX_PROGRAM_BYTES - len(head) - 1) + "\n"
    assert len(body.encode()) == MAX_PROGRAM_BYTES == 256 * 1024
    (layout["job"] / "p.qasm").write_text(body, encoding="utf-8")
    request = jobspec_from_text(job_text("p.qasm"), layout["job"])
    assert len(request.program.encode()) == MAX_PROGRAM_BYTES


def test_inline_program_over_limit_rejected() -> None:
    source = "OPENQASM 3.0;\n//" + "x" * MAX_PROGRAM_BYTES
    text = f"apiVersion: eigen.os/v1\nspec:\n  program:\n    source: {source!r}\n"
    assert len(text.encode()) > MAX_JOBSPEC_BYTES  # so go through parse_jobspec directly
    spec = parse_jobspec({"apiVersion": "eigen.os/v1", "spec": {"program": {"source": source}}})
    invalid(lambda: spec.to_request(source), "spec.program")


def test_program_file_over_limit_rejected(layout: dict[str, Path]) -> None:
    (layout["job"] / "big.qasm").write_bytes(b"OPENQASM 3.0;\n" + b"x" * MAX_PROGRAM_BYTES)
    with pytest.raises(InvalidArgument) as info:
        jobspec_from_text(job_text("big.qasm"), layout["job"])
    assert "256 KiB" in str(info.value)


def test_program_file_over_limit_names_field(layout: dict[str, Path]) -> None:
    (layout["job"] / "big.qasm").write_bytes(b"OPENQASM 3.0;\n" + b"x" * MAX_PROGRAM_BYTES)
    exc = invalid(lambda: jobspec_from_text(job_text("big.qasm"), layout["job"]), PATH_FIELD)
    assert str(layout["job"]) not in str(exc)  # no server-side path in user-facing errors


def test_non_utf8_program_rejected(layout: dict[str, Path]) -> None:
    (layout["job"] / "bin.qasm").write_bytes(b"OPENQASM 3.0;\n\xff\xfe\x80")
    with pytest.raises(InvalidArgument) as info:
        jobspec_from_text(job_text("bin.qasm"), layout["job"])
    assert "UTF-8" in str(info.value)


def test_non_utf8_program_names_field(layout: dict[str, Path]) -> None:
    (layout["job"] / "bin.qasm").write_bytes(b"OPENQASM 3.0;\n\xff\xfe\x80")
    invalid(lambda: jobspec_from_text(job_text("bin.qasm"), layout["job"]), PATH_FIELD)


def test_program_with_nul_bytes_rejected(layout: dict[str, Path]) -> None:
    (layout["job"] / "nul.qasm").write_bytes(b"OPENQASM 3.0;\x00qubit q;\n")
    invalid(lambda: jobspec_from_text(job_text("nul.qasm"), layout["job"]), "spec.program")


def _padded_yaml(size: int) -> str:
    base = "apiVersion: eigen.os/v1\nspec:\n  program:\n    source: 'OPENQASM 3;'\n#"
    return base + "x" * (size - len(base) - 1) + "\n"


def test_yaml_at_limit_accepted(tmp_path: Path) -> None:
    text = _padded_yaml(MAX_JOBSPEC_BYTES)
    assert len(text.encode()) == MAX_JOBSPEC_BYTES == 64 * 1024
    assert jobspec_from_text(text, None).language is ProgramLanguage.QASM3
    job_file = tmp_path / "job.yaml"
    job_file.write_text(text, encoding="utf-8")
    assert load_job_file(job_file).program == "OPENQASM 3;"


def test_yaml_text_over_limit_rejected() -> None:
    exc = invalid(lambda: jobspec_from_text(_padded_yaml(MAX_JOBSPEC_BYTES + 1), None), "(document)")
    assert "64 KiB" in exc.violations[0].description


def test_yaml_over_limit_counts_bytes_not_characters() -> None:
    text = _padded_yaml(MAX_JOBSPEC_BYTES - 2000) + "#" + "é" * 1500 + "\n"
    assert len(text) < MAX_JOBSPEC_BYTES < len(text.encode())
    invalid(lambda: jobspec_from_text(text, None), "(document)")


def test_yaml_file_over_limit_rejected(tmp_path: Path) -> None:
    job_file = tmp_path / "job.yaml"
    job_file.write_text(_padded_yaml(MAX_JOBSPEC_BYTES + 1), encoding="utf-8")
    with pytest.raises(InvalidArgument) as info:
        load_job_file(job_file)
    assert "64 KiB" in str(info.value)


def test_missing_job_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        load_job_file(tmp_path / "nope.yaml")


def test_non_utf8_job_file(tmp_path: Path) -> None:
    job_file = tmp_path / "job.yaml"
    job_file.write_bytes(b"apiVersion: \xff\xfe\n")
    with pytest.raises(InvalidArgument):
        load_job_file(job_file)


# ------------------------------------------- odd inputs must stay InvalidArgument


def test_symlink_loop_is_invalid_argument(layout: dict[str, Path]) -> None:
    os.symlink("loop.qasm", layout["job"] / "loop.qasm")
    invalid(lambda: jobspec_from_text(job_text("loop.qasm"), layout["job"]), PATH_FIELD)


def test_overlong_path_is_invalid_argument(layout: dict[str, Path]) -> None:
    invalid(lambda: jobspec_from_text(job_text("a" * 5000 + ".qasm"), layout["job"]), PATH_FIELD)


def test_nul_in_path_is_invalid_argument(layout: dict[str, Path]) -> None:
    text = 'apiVersion: eigen.os/v1\nspec:\n  program:\n    path: "x\\0.qasm"\n'
    invalid(lambda: jobspec_from_text(text, layout["job"]), PATH_FIELD)


def test_lone_surrogate_in_text_is_invalid_argument() -> None:
    text = "apiVersion: eigen.os/v1\nspec:\n  program:\n    source: '\ud800'\n"
    invalid(lambda: jobspec_from_text(text, None), "(document)")
