"""Issue 14 item 9 (and the job.yaml part of item 8) where users meet it: the real
``eigen-cli`` process against a real server (``EIGEN_ENDPOINT``). A job file it cannot
use is a user error: exit code 2, one message naming the field or the file, no traceback,
quickly (a FIFO or ``/dev/zero`` must not make it wait or read forever)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import BELL

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).with_name("eigen-cli"))
HEAD = "apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {name: edge}\n"
PROGRAM = "  program: {path: bell.qasm}\n"


def run_cli(server: EmbeddedServer, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "EIGEN_ENDPOINT": server.address}
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=60, env=environment, check=False
    )


def job_file(folder: Path, spec: str) -> Path:
    (folder / "bell.qasm").write_text(BELL)
    path = folder / "job.yaml"
    path.write_text(HEAD + "spec:\n" + PROGRAM + spec)
    return path


def assert_user_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output, output
    assert len(output) < 4000, output[:500]
    for needle in needles:
        assert needle in output, output


@pytest.mark.parametrize("field", ["shots", "seed", "optimization_level", "timeout_seconds"])
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400"])
def test_an_infinite_or_nan_number_is_exit_2_naming_the_field(
    server: EmbeddedServer, tmp_path: Path, field: str, value: str
) -> None:
    path = job_file(tmp_path, f"  metadata:\n    {field}: {value}\n")
    assert_user_error(run_cli(server, "submit", "--job", str(path)), f"spec.metadata.{field}", "finite")


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("  metadata:\n    seed: 100000000000000000000000000000\n", "spec.metadata.seed"),
        ("  metadata:\n    shots: 1e12\n", "spec.metadata.shots"),
        ("  metadata:\n    shots: " + "9" * 5000 + "\n", "(document)"),
        ("  compiler:\n    optimization_level: .inf\n", "spec.compiler.optimization_level"),
        ("  priority: 1000\n", "spec.priority"),
    ],
)
def test_an_out_of_range_number_is_exit_2_naming_the_field(
    server: EmbeddedServer, tmp_path: Path, spec: str, field: str
) -> None:
    assert_user_error(run_cli(server, "submit", "--job", str(job_file(tmp_path, spec))), field)


def test_a_fifo_as_the_job_file_is_refused_without_waiting(server: EmbeddedServer, tmp_path: Path) -> None:
    fifo = tmp_path / "job.yaml"
    os.mkfifo(fifo)
    assert_user_error(run_cli(server, "submit", "--job", str(fifo)), "not a regular file")


@pytest.mark.parametrize(
    ("path", "needle"), [("/dev/zero.yaml", "not found"), ("/dev/zero", "/dev/zero"), (".", "")]
)
def test_a_device_or_a_folder_as_the_job_file_is_refused(
    server: EmbeddedServer, tmp_path: Path, path: str, needle: str
) -> None:
    target = str(tmp_path) if path == "." else path
    assert_user_error(run_cli(server, "submit", "--job", target), needle)


def test_a_fifo_as_the_program_file_is_refused(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_file(tmp_path, "")
    (tmp_path / "bell.qasm").unlink()
    os.mkfifo(tmp_path / "bell.qasm")
    assert_user_error(run_cli(server, "submit", "--job", str(path)), "spec.program.path")


def test_a_billion_laughs_in_spec_compiler_is_refused_at_once(server: EmbeddedServer, tmp_path: Path) -> None:
    levels = ['    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n']
    levels += [f"    l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10)]
    path = job_file(tmp_path, "  compiler:\n" + "".join(levels))
    assert_user_error(run_cli(server, "submit", "--job", str(path)), "job.yaml", "line", "aliases")


def test_a_self_containing_alias_is_refused(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_file(tmp_path, "  compiler: &loop {again: *loop}\n")
    assert_user_error(run_cli(server, "submit", "--job", str(path)), "contains itself")


def test_markup_in_an_error_is_printed_as_it_is(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_file(tmp_path, "  target: '[/bold]nope'\n")
    done = run_cli(server, "submit", "--job", str(path))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr


def test_a_fifo_given_as_a_program_file_is_refused_without_waiting(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    fifo = tmp_path / "bell.qasm"  # a program file given directly, no job.yaml
    os.mkfifo(fifo)
    assert_user_error(run_cli(server, "submit", "--job", str(fifo)), "not a regular file")
