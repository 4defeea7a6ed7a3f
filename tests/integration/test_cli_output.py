"""Issue 16, Output: what a person reads from the real ``eigen-cli`` (and ``eigen-server``)
process on an 80-column terminal (``COLUMNS=80``) against a real server: short ids in
tables and whole ids in ``--json``, unique prefixes accepted, readable ``status``, labelled
results, a progress log without a terminal, errors once with a hint, ``--version``, plain
``--help`` and a positional job file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from eigen.client import Client
from eigen.server.embedded import EmbeddedServer

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
HEAD = "apiVersion: eigen.os/v1\nkind: QuantumJob\n"
BELL = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
    "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
)
SWEEP = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\ninput float[64] theta;\ninput float[64] phi;\n'
    "qubit[2] q;\nry(theta) q[0];\nrz(phi) q[0];\ncx q[0], q[1];\n"
)
HYBRID = """from eigen_lang import ExpectationValue, Observable, Param, hybrid_program, ry, rz
from eigen_lang.optimizers import minimize


@hybrid_program
def main():
    theta = Param("theta", 0.1)
    phi = Param("phi", 0.2)
    ry(0, theta)
    rz(0, phi)
    energy = ExpectationValue("energy", observable=Observable({"Z": 1.0}))
    optimum = minimize(energy, [theta, phi], method="COBYLA", max_iters=12)
    return {"energy": optimum.fun}
"""


def cli(
    server: EmbeddedServer | None, *args: str, tool: str = "eigen-cli"
) -> subprocess.CompletedProcess[str]:
    """The real command at 80 columns, stdout and stderr pipes (not a terminal)."""
    environment = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    environment.pop("EIGEN_ENDPOINT", None)
    if server is not None:
        environment["EIGEN_ENDPOINT"] = server.address
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, timeout=120, env=environment, check=False
    )


def job_file(folder: Path, name: str, spec: str, program: tuple[str, str] = ("bell.qasm", BELL)) -> Path:
    (folder / program[0]).write_text(program[1])
    path = folder / f"{name}.yaml"
    path.write_text(f"{HEAD}metadata: {{name: {name}}}\nspec:\n  program: {{path: {program[0]}}}\n{spec}")
    return path


def fits(text: str) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, "\n".join(too_wide)


@pytest.fixture(scope="module")
def bell_id(server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = job_file(tmp_path_factory.mktemp("bell"), "bell", "  metadata: {shots: 100, seed: 3}\n")
    done = cli(server, "submit", str(path), "--watch", "--json")  # the job file as an argument
    assert done.returncode == 0, done.stdout + done.stderr
    return str(json.loads(done.stdout)["id"])


@pytest.fixture(scope="module")
def hybrid(
    server: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> subprocess.CompletedProcess[str]:
    path = job_file(
        tmp_path_factory.mktemp("hybrid"), "hy", "  metadata: {shots: 0}\n", ("p.eigen.py", HYBRID)
    )
    done = cli(server, "submit", str(path), "--watch")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_version_of_both_commands() -> None:
    for tool in ("eigen-cli", "eigen-server"):
        done = cli(None, "--version", tool=tool)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"{tool} ") and done.stdout.split()[1][0].isdigit()


@pytest.mark.parametrize("command", [[], ["submit"], ["results"], ["jobs"]])
def test_help_is_plain_text_with_flags_as_flags(command: list[str]) -> None:
    done = cli(None, *command, "--help")
    assert done.returncode == 0, done.stderr
    assert "``" not in done.stdout and "<bool>" not in done.stdout and "╭" not in done.stdout
    fits(done.stdout)
    if command == ["submit"]:
        assert "[JOB_FILE]" in done.stdout and "-w, --watch  " in done.stdout
        assert "--target NAME" in done.stdout and "-e, --endpoint HOST:PORT" in done.stdout


def test_the_jobs_table_shows_whole_short_ids_and_json_full_ids(server: EmbeddedServer, bell_id: str) -> None:
    table = cli(server, "jobs")
    assert table.returncode == 0, table.stderr
    fits(table.stdout)
    row = next(line for line in table.stdout.splitlines() if line.startswith(bell_id[:12]))
    assert row.split()[0] == bell_id[:12] and "…" not in row
    listed = json.loads(cli(server, "jobs", "--json").stdout)
    assert bell_id in [job["id"] for job in listed["jobs"]]


def test_a_unique_prefix_names_the_job(server: EmbeddedServer, bell_id: str) -> None:
    shown = cli(server, "status", bell_id[:8], "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == bell_id
    results = cli(server, "results", bell_id[:12])
    assert results.returncode == 0 and "00" in results.stdout, results.stderr


def test_an_ambiguous_prefix_lists_the_candidates_exit_2(server: EmbeddedServer, tmp_path: Path) -> None:
    (tmp_path / "bell.qasm").write_text(BELL)
    seen: dict[str, str] = {}
    with Client(server.address) as client:
        for _ in range(17):  # 16 hex digits: two of 17 ids share their first one
            job_id = client.submit(BELL, shots=10).id
            if job_id[0] in seen:
                break
            seen[job_id[0]] = job_id
    done = cli(server, "status", job_id[0])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ambiguous" in done.stderr and seen[job_id[0]][:8] in done.stderr and job_id[:8] in done.stderr


def test_status_reads_as_text_and_json_keeps_integers(
    server: EmbeddedServer, hybrid: subprocess.CompletedProcess[str]
) -> None:
    job_id = hybrid.stdout.split()[2]
    shown = cli(server, "status", job_id)
    assert shown.returncode == 0, shown.stderr
    fits(shown.stdout)
    lines = [line.strip() for line in shown.stdout.splitlines() if line.strip()]
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in lines}
    assert rows["created"][:4].isdigit() and rows["created"][10] == "T"
    assert re.fullmatch(r"compile [\d.]+ m?s, execute [\d.]+ m?s", rows["timings"]), rows["timings"]
    assert rows["progress"].startswith("iteration ")
    assert ".0" not in rows["progress"].split(",")[0]
    progress = json.loads(cli(server, "status", job_id, "--json").stdout)["progress"]
    assert isinstance(progress["iteration"], int) and isinstance(progress["max_iters"], int)


def test_a_progress_log_without_a_terminal(hybrid: subprocess.CompletedProcess[str]) -> None:
    lines = hybrid.stderr.splitlines()
    job = hybrid.stdout.split()[2][:12]
    assert f"job {job}: RUNNING" in lines
    iterations = [line for line in lines if " iteration " in line]
    assert iterations and iterations[0].startswith(f"job {job}: RUNNING iteration 1/12 energy ")
    assert not any("\x1b" in line or "⠋" in line for line in lines)


def test_a_hybrid_title_has_its_parameters_in_declaration_order(
    hybrid: subprocess.CompletedProcess[str],
) -> None:
    assert re.search(r"^experiment 0 \(theta=[-\d.e]+, phi=[-\d.e]+\)$", hybrid.stdout, re.M), hybrid.stdout
    assert "energy: " in hybrid.stdout and "±" not in hybrid.stdout.split("experiment 0")[1]


def test_shot_results_are_labelled_with_standard_errors(server: EmbeddedServer, tmp_path: Path) -> None:
    spec = (
        "  parameters: [{phi: 1.0, theta: 0.5}]\n  observables: [{ZZ: 1.0}, {IX: 1.0}]\n"
        "  metadata: {shots: 400, seed: 5}\n"
    )
    done = cli(server, "submit", str(job_file(tmp_path, "sweep", spec, ("sweep.qasm", SWEEP))), "--watch")
    assert done.returncode == 0, done.stdout + done.stderr
    fits(done.stdout)
    assert "experiment 0 (theta=0.5, phi=1)" in done.stdout  # the order the program uses them
    assert "seed 5" in done.stdout
    labelled = [line.strip() for line in done.stdout.splitlines() if line.strip().startswith("observable ")]
    assert [line.split(":")[0] for line in labelled] == ["observable 0", "observable 1"]
    assert all(" ± " in line for line in labelled)


def test_exact_results_have_no_counts_table_and_no_seed(server: EmbeddedServer, tmp_path: Path) -> None:
    spec = "  parameters: [{theta: 0.5, phi: 0.0}]\n  observables: [{ZZ: 1.0}]\n  metadata: {shots: 0}\n"
    done = cli(server, "submit", str(job_file(tmp_path, "exact", spec, ("sweep.qasm", SWEEP))), "--watch")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "outcome" not in done.stdout and "┏" not in done.stdout
    assert "seed" not in done.stdout and "observable 0: 1" in done.stdout and "±" not in done.stdout


@pytest.mark.parametrize(
    ("spec", "field", "hint"),
    [
        ("  shots: 100\n", "spec.shots", "spec.metadata.shots"),
        ("  program: bell.qasm\n", "spec.program", "path: or source:"),
    ],
)
def test_an_error_is_printed_once_with_a_hint(
    server: EmbeddedServer, tmp_path: Path, spec: str, field: str, hint: str
) -> None:
    path = tmp_path / "bad.yaml"
    (tmp_path / "bell.qasm").write_text(BELL)
    body = spec if "program" in spec else "  program: {path: bell.qasm}\n" + spec
    path.write_text(f"{HEAD}metadata: {{name: bad}}\nspec:\n{body}")
    done = cli(server, "submit", str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count(field) == 1, done.stderr
    assert hint in done.stderr and "Traceback" not in done.stderr


def test_an_endpoint_given_as_a_url_gets_a_hint() -> None:
    done = cli(None, "jobs", "--endpoint", "http://127.0.0.1:1")
    assert done.returncode in (2, 3), done.stderr
    assert "use host:port (or https://host:port for TLS)" in done.stderr


def test_backends_fit_80_columns_with_aliases(server: EmbeddedServer) -> None:
    done = cli(server, "backends")
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    header = done.stdout.splitlines()[0].split()
    assert header[:2] == ["name", "aliases"]
    statevector = next(line for line in done.stdout.splitlines() if line.startswith("sim:statevector "))
    assert "sim:local" in statevector


def test_the_job_file_is_given_once(server: EmbeddedServer, tmp_path: Path) -> None:
    path = job_file(tmp_path, "bell", "")
    twice = cli(server, "submit", str(path), "--job", str(tmp_path / "other.yaml"))
    assert twice.returncode == 2 and "give the job file once" in twice.stderr, twice.stderr
    none = cli(server, "submit")
    assert none.returncode == 2 and "JOB_FILE" in none.stderr, none.stderr
