"""Job files and programs written for Eigen-OS run unchanged through ``eigen-cli submit``.

The job files and programs were written from the documents alone (JobSpec 1.0 and the
Eigen-Lang surface, ``/work/shared/design``, ``docs/jobspec.md``, ``docs/eigen-lang.md``,
``docs/hybrid.md``), as an Eigen-OS user would write them: the examples under
``examples/`` (state-prep, benchmark-16q, vqe-noisy, inline-minimal) and the small files
each test writes into its own folder. Every test runs the real ``eigen-cli`` in separate
processes, embedded mode (no endpoint), on a fresh data folder of its own
(``EIGEN_DATA_DIR``), so a later ``status`` or ``results`` process reads what ``submit``
stored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BENCHMARK_SEED = 2026  # examples/benchmark-16q/job.yaml, spec.workload.seed
CLI_TIMEOUT_S = 240  # one CLI process; the noisy VQE is the longest (tens of seconds)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``eigen-cli ARGS`` as its own process on the data folder ``data_dir``.

    No outside ``EIGEN_*`` setting leaks in (an endpoint would leave embedded mode)."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("EIGEN_") or key == "EIGEN_CI"
    }
    env["EIGEN_DATA_DIR"] = str(data_dir)
    script = Path(sys.executable).with_name("eigen-cli")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "eigen.cli"]
    return subprocess.run([*command, *args], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def submit(data_dir: Path, job_file: Path) -> dict[str, Any]:
    """Submit ``job_file`` (``--json``); the job as printed, after checking it ran DONE."""
    submitted = cli(data_dir, "submit", "--job", str(job_file), "--json")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job: dict[str, Any] = json.loads(submitted.stdout)
    assert job["state"] == "DONE", job
    return job


def results(data_dir: Path, job_id: str) -> dict[str, Any]:
    """``eigen-cli results ID --json`` from a separate process."""
    shown = cli(data_dir, "results", job_id, "--json", "--wait", "30")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    payload: dict[str, Any] = json.loads(shown.stdout)
    assert payload["job_id"] == job_id
    return payload


def status(data_dir: Path, job_id: str) -> dict[str, Any]:
    """``eigen-cli status ID --json`` from a separate process."""
    shown = cli(data_dir, "status", job_id, "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    job: dict[str, Any] = json.loads(shown.stdout)
    return job


def stored_jobs(data_dir: Path) -> list[dict[str, Any]]:
    """Every job in the data folder (``eigen-cli jobs --json``)."""
    listed = cli(data_dir, "jobs", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    jobs: list[dict[str, Any]] = json.loads(listed.stdout)["jobs"]
    return jobs


def returns(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The dict a program returned: ``summary["returns"]`` (docs/eigen-lang.md, the return value)."""
    assert "returns" in summary, f"no returned dict in the summary: {summary}"
    values: dict[str, Any] = summary["returns"]
    return values


def returned(summary: Mapping[str, Any]) -> Any:
    """What a program returned that is not a dict: ``summary["returned"]`` (docs/eigen-lang.md)."""
    assert "returned" in summary, f"no returned value in the summary: {summary}"
    return summary["returned"]


def only_counts(payload: Mapping[str, Any]) -> dict[str, int]:
    """The counts of a job with exactly one experiment."""
    experiments = payload["experiments"]
    assert len(experiments) == 1, experiments
    counts: dict[str, int] = experiments[0]["counts"]
    return counts


def scalars(value: Any) -> list[Any]:
    """Every scalar inside a JSON value (map values and list items, recursively)."""
    if isinstance(value, Mapping):
        return [item for inner in value.values() for item in scalars(inner)]
    if isinstance(value, list):
        return [item for inner in value for item in scalars(inner)]
    return [value]


def is_int(value: Any) -> bool:
    """A JSON integer (not a float like 2.0, not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def write_job(folder: Path, text: str, name: str = "job.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- state preparation (JobSpec 1.0 document of JOBSPEC-1.0.md's second example) ---------


@pytest.mark.timeout(300)
def test_state_preparation_runs_with_its_annotations_and_namespace(tmp_path: Path) -> None:
    job = submit(tmp_path, EXAMPLES / "state-prep" / "job.yaml")
    payload = results(tmp_path, job["id"])
    counts = only_counts(payload)
    # The W state: exactly one qubit in |1>, each of the three about a third of the shots.
    assert set(counts) == {"001", "010", "100"}, counts
    assert sum(counts.values()) == 4096  # spec.metadata.shots given as the string "4096"
    for outcome, hits in counts.items():
        assert 0.28 < hits / 4096 < 0.39, (outcome, counts)
    assert payload["seed"] == 11  # spec.metadata.seed given as the string "11"
    assert payload["compile_report"]["optimization_level"] == 2  # spec.compiler, a string "2"

    shown = status(tmp_path, job["id"])
    assert shown["name"] == "state-prep"
    assert shown["namespace"] == "materials-lab"
    assert shown["annotations"] == {"owner": "research-team"}
    assert shown["labels"] == {"domain": "materials"}
    assert shown["priority"] == 55


# --- BenchmarkJob and ReplayJob --------------------------------------------------------------


@pytest.mark.timeout(300)
def test_benchmark_16q_twice_gives_identical_counts_and_an_execution_context(tmp_path: Path) -> None:
    job_file = EXAMPLES / "benchmark-16q" / "job.yaml"
    first = results(tmp_path, submit(tmp_path, job_file)["id"])
    second = results(tmp_path, submit(tmp_path, job_file)["id"])
    counts = only_counts(first)
    assert all(len(outcome) == 16 for outcome in counts), "every one of the 16 qubits is measured"
    assert sum(counts.values()) == 2000
    assert len(counts) > 100, "the benchmark's outcomes spread over many bitstrings"
    assert only_counts(second) == counts
    for payload in (first, second):
        assert payload["seed"] == BENCHMARK_SEED
        context = payload["summary"]["execution_context"]
        assert isinstance(context, dict) and context, payload["summary"]
        recorded = scalars(context)
        assert BENCHMARK_SEED in recorded, f"the seed is not in the execution context: {context}"
        assert "sim:statevector" in recorded, f"the target is not in the execution context: {context}"


@pytest.mark.timeout(300)
def test_replay_of_the_benchmark_matches_bit_for_bit(tmp_path: Path) -> None:
    original_id = submit(tmp_path, EXAMPLES / "benchmark-16q" / "job.yaml")["id"]
    original = results(tmp_path, original_id)
    folder = tmp_path / "replay"
    folder.mkdir()
    shutil.copy(EXAMPLES / "benchmark-16q" / "program.eigen.py", folder / "program.eigen.py")
    replay_file = write_job(
        folder,
        f"""apiVersion: eigen.os/v1
kind: QuantumJob
metadata:
  name: benchmark-16q-replay
  annotations: {{reason: "reproduce {original_id}"}}
spec:
  target: sim:statevector
  program: {{path: program.eigen.py}}
  workload: {{kind: ReplayJob, execution_profile: benchmark}}
  metadata: {{replay_of: "{original_id}"}}
""",
    )
    replay = submit(tmp_path, replay_file)
    assert replay["id"] != original_id
    payload = results(tmp_path, replay["id"])
    assert payload["summary"]["replay"]["matched"] is True, payload["summary"]
    assert only_counts(payload) == only_counts(original)
    assert payload["seed"] == BENCHMARK_SEED  # the original's recorded seed


def benchmark_file(folder: Path, spec_lines: str) -> Path:
    """A BenchmarkJob job file around the 16-qubit program with the given spec lines."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "benchmark-16q" / "program.eigen.py", folder / "program.eigen.py")
    return write_job(
        folder,
        "apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {name: benchmark-16q}\nspec:\n"
        "  program: {path: program.eigen.py}\n"
        "  workload: {kind: BenchmarkJob, execution_profile: benchmark}\n" + spec_lines,
    )


@pytest.mark.timeout(120)
def test_benchmark_without_a_seed_is_refused_naming_the_seed(tmp_path: Path) -> None:
    job_file = benchmark_file(tmp_path / "job", "  target: sim:statevector\n  metadata: {shots: 100}\n")
    refused = cli(tmp_path / "data", "submit", "--job", str(job_file), "--json")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "EIGEN_INVALID_ARGUMENT" in refused.stderr and "seed" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert stored_jobs(tmp_path / "data") == []


@pytest.mark.timeout(120)
def test_benchmark_without_an_explicit_target_is_refused_naming_the_target(tmp_path: Path) -> None:
    job_file = benchmark_file(tmp_path / "job", "  metadata: {shots: 100, seed: 3}\n")
    refused = cli(tmp_path / "data", "submit", "--job", str(job_file), "--json")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "EIGEN_INVALID_ARGUMENT" in refused.stderr and "target" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert stored_jobs(tmp_path / "data") == []


# --- HybridWorkflow on a noisy simulator -----------------------------------------------------


@pytest.mark.timeout(300)
def test_noisy_two_qubit_vqe_reaches_below_minus_1_8(tmp_path: Path) -> None:
    job = submit(tmp_path, EXAMPLES / "vqe-noisy" / "job.yaml")
    summary = results(tmp_path, job["id"])["summary"]
    assert summary["estimator"] == "shots"
    assert summary["shots_per_basis"] == 8192  # @hybrid_program(shots=8192)
    assert summary["noise_model"] == "depolarizing:0.001"  # @hybrid_program(noise_model=...)
    assert summary["energy"] < -1.8, summary  # the exact minimum of Z0 + X1 is -2
    assert summary["iterations"] <= 80
    assert returns(summary)["energy"] == summary["energy"]


# --- inline programs, returned values and what a program may read ------------------------------


@pytest.mark.timeout(120)
def test_minimal_inline_program_example_returns_1(tmp_path: Path) -> None:
    job = submit(tmp_path, EXAMPLES / "inline-minimal" / "job.yaml")
    payload = results(tmp_path, job["id"])
    assert payload["experiments"] == []
    value = returned(payload["summary"])
    assert value == 1 and is_int(value)


INLINE_RETURNS = {
    "number": ("    return 1\n", 1),
    "string": ('    return "ready"\n', "ready"),
    "list": ('    return [1, 2.5, "x"]\n', [1, 2.5, "x"]),
    "register-size": ('    q = QubitRegister(3)\n    return {"qubits": q.size}\n', {"qubits": 3}),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("body,expected", list(INLINE_RETURNS.values()), ids=list(INLINE_RETURNS))
def test_inline_program_without_gates_ends_done_with_its_returned_value(
    tmp_path: Path, body: str, expected: Any
) -> None:
    source = "from eigen_lang import *\n\n@hybrid_program\ndef main():\n" + body
    job_file = write_job(
        tmp_path / "job",
        "apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {name: inline-returns}\n"
        "spec:\n  target: sim:local\n  program:\n    source: |\n"
        + "".join(f"      {line}\n" if line else "\n" for line in source.splitlines()),
    )
    payload = results(tmp_path / "data", submit(tmp_path / "data", job_file)["id"])
    assert payload["experiments"] == []
    summary = payload["summary"]
    value = returns(summary) if isinstance(expected, dict) else returned(summary)
    assert value == expected
    assert json.dumps(value) == json.dumps(expected), "JSON types kept (an int stays an int)"


@pytest.mark.timeout(120)
def test_inline_circuit_without_measurement_measures_every_qubit(tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path / "job",
        """apiVersion: eigen.os/v1
kind: QuantumJob
metadata: {name: inline-flip}
spec:
  target: sim:local
  program:
    source: |
      from eigen_lang import hybrid_program, x

      @hybrid_program
      def main():
          x(0)
          x(2)
  metadata: {shots: "100", seed: "4"}
""",
    )
    payload = results(tmp_path / "data", submit(tmp_path / "data", job_file)["id"])
    assert only_counts(payload) == {"101": 100}  # three qubits (highest used + 1), bit 0 rightmost


ATTRIBUTES_PROGRAM = '''\
"""Returns every attribute a program may read: terms, register sizes, optimiser fields, a Param."""
from eigen_lang import ClassicalRegister, ExpectationValue, Observable, Param, QubitRegister
from eigen_lang import cx, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program(seed=9)
def main():
    q = QubitRegister(2)
    c = ClassicalRegister(2)
    theta = Param("theta", 0.1)
    phi = Param("phi", 0.2)
    ry(q[0], theta)
    ry(q[1], phi)
    cx(q[0], q[1])
    hamiltonian = Observable(Z=0, X=1)
    energy = ExpectationValue("energy", observable=hamiltonian)
    optimum = minimize(energy, [0.1, 0.2], method="COBYLA", max_iters=40)
    return {
        "terms": hamiltonian.terms,
        "qubits": q.size,
        "bits": c.size,
        "energy": optimum.fun,
        "x": optimum.x,
        "method": optimum.method,
        "objective": optimum.objective,
        "details": optimum.metadata,
        "theta": theta,
    }
'''


@pytest.mark.timeout(300)
def test_program_reads_terms_sizes_and_optimizer_fields_with_json_types(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "program.eigen.py").write_text(ATTRIBUTES_PROGRAM, encoding="utf-8")
    job_file = write_job(
        folder,
        "apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {name: attributes}\nspec:\n"
        "  target: sim:statevector\n  program: {path: program.eigen.py}\n"
        "  workload: {kind: HybridWorkflow}\n  metadata: {shots: 0}\n",
    )
    summary = results(tmp_path / "data", submit(tmp_path / "data", job_file)["id"])["summary"]
    values = returns(summary)
    # [[label, weight], ...] in the order written; Qiskit order: IZ is Z on qubit 0.
    assert values["terms"] == [["IZ", 1.0], ["XI", 1.0]]
    assert all(isinstance(weight, float) for _, weight in values["terms"])
    assert values["qubits"] == 2 and is_int(values["qubits"])
    assert values["bits"] == 2 and is_int(values["bits"])
    assert isinstance(values["energy"], float) and values["energy"] == summary["energy"]
    optimal = summary["optimal_parameters"]
    assert values["x"] == [optimal["theta"], optimal["phi"]]  # Param declaration order
    assert all(isinstance(v, float) for v in values["x"])
    assert values["theta"] == optimal["theta"]  # a Param: its value at the optimum
    assert isinstance(values["method"], str) and values["method"].upper() == "COBYLA"
    assert values["objective"] == "energy"
    details = values["details"]
    assert isinstance(details, dict)
    assert is_int(details["iterations"]) and details["iterations"] == summary["iterations"]
    assert is_int(details["evaluations"]) and details["evaluations"] == summary["evaluations"]


# --- a PipelineJob stage, and the workload kind that is not implemented yet -----------------

PIPELINE_STAGE = (
    "  target: sim:local\n"
    "  workload:\n"
    "    kind: PipelineJob\n"
    "    execution_profile: circuit\n"
    "    pipeline:\n"
    "      stage_id: prepare\n"
    "      input_refs: []\n"
    "      output_refs: [qfs://pipeline/prepare/state]\n"
    "      handoff_ref: qfs://pipeline/prepare/state\n"
    "      depends_on: []\n"
)
NOT_YET = {
    "DistributedJob": (
        "  target: sim:local\n"
        "  workload:\n"
        "    kind: DistributedJob\n"
        "    topology: {cluster_id: lab, partition_count: 2}\n"
    ),
}
BELL_SOURCE = (
    '  program:\n    source: |\n      OPENQASM 3.0;\n      include "stdgates.inc";\n'
    "      qubit[2] q;\n      bit[2] c;\n      h q[0];\n      cx q[0], q[1];\n      c = measure q;\n"
)


@pytest.mark.timeout(120)
def test_a_pipeline_stage_runs_and_publishes_its_output(tmp_path: Path) -> None:
    job_file = write_job(
        tmp_path / "job",
        "apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {name: prepare-stage}\nspec:\n"
        + BELL_SOURCE
        + PIPELINE_STAGE,
    )
    job = submit(tmp_path / "data", job_file)
    lineage = results(tmp_path / "data", job["id"])["summary"]["pipeline"]
    assert lineage["stage_id"] == "prepare" and lineage["handoff_ref"] == "qfs://pipeline/prepare/state"
    file = lineage["outputs"][0]["file"]
    stored = json.loads((tmp_path / "data" / "artifacts" / job["id"] / file).read_text())
    assert stored["ref"] == "qfs://pipeline/prepare/state" and stored["kind"] == "result"
    assert sum(stored["value"]["counts"][0].values()) > 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(NOT_YET))
def test_workload_kind_not_yet_implemented_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    job_file = write_job(
        tmp_path / "job",
        f"apiVersion: eigen.os/v1\nkind: QuantumJob\nmetadata: {{name: {kind.lower()}-stage}}\nspec:\n"
        + BELL_SOURCE
        + NOT_YET[kind],
    )
    refused = cli(tmp_path / "data", "submit", "--job", str(job_file), "--json")
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "EIGEN_UNIMPLEMENTED" in refused.stderr and kind in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert stored_jobs(tmp_path / "data") == [], "never accepted and run as something else"
