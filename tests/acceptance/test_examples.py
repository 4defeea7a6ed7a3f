"""Every example runs through the CLI exactly as the README tells users to run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.acceptance
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/job.yaml"))


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EIGEN_DATA_DIR": str(data_dir)}
    env.pop("EIGEN_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, "-m", "eigen.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_to_done(example: Path, tmp_path: Path) -> None:
    submitted = cli(tmp_path, "submit", "--job", str(example / "job.yaml"), "--json")
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job = json.loads(submitted.stdout)
    assert job["state"] == "DONE"
    # A later, separate CLI process finds the job in the local data folder.
    results = cli(tmp_path, "results", job["id"], "--json", "--wait", "30")
    assert results.returncode == 0, results.stderr
    payload = json.loads(results.stdout)
    assert payload["job_id"] == job["id"]
    assert payload["experiments"] or payload["summary"]


def test_cli_reports_user_errors_with_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text(
        "apiVersion: eigen.os/v1\nkind: QuantumJob\nspec:\n  program: {path: ../x.qasm}\n"
    )
    failed = cli(tmp_path / "data", "submit", "--job", str(tmp_path / "job.yaml"))
    assert failed.returncode == 2
    assert "spec.program.path" in failed.stderr and "Traceback" not in failed.stderr
    missing = cli(tmp_path / "data", "status", "no-such-job")
    assert missing.returncode == 2 and "EIGEN_NOT_FOUND" in missing.stderr
    negative = cli(tmp_path / "data", "results", "no-such-job", "--wait", "-1")
    assert negative.returncode == 2 and "--wait" in negative.stderr


def test_cli_network_error_exit_code_3(tmp_path: Path) -> None:
    failed = cli(tmp_path, "jobs", "--endpoint", "127.0.0.1:1")
    assert failed.returncode == 3, failed.stderr
    assert "Traceback" not in failed.stderr


def test_bell_results_table_and_job_listing(tmp_path: Path) -> None:
    example = ROOT / "examples" / "bell-qasm3" / "job.yaml"
    watched = cli(tmp_path, "submit", "--job", str(example), "--watch")
    assert watched.returncode == 0, watched.stderr
    assert "DONE" in watched.stdout and "00" in watched.stdout and "█" in watched.stdout
    listing = cli(tmp_path, "jobs", "--state", "done")
    assert listing.returncode == 0 and "bell-pair" in listing.stdout
    compiled = tmp_path / "bell.compiled.qasm"
    done = cli(tmp_path, "compile", "--job", str(example), "--out", str(compiled))
    assert done.returncode == 0, done.stderr
    assert compiled.read_text().startswith("OPENQASM 3")


def test_vqe_results_summary_and_convergence_plot(tmp_path: Path) -> None:
    submitted = cli(tmp_path, "submit", "--job", str(ROOT / "examples" / "vqe-h2" / "job.yaml"), "--json")
    assert submitted.returncode == 0, submitted.stderr
    job_id = json.loads(submitted.stdout)["id"]
    plot = tmp_path / "convergence.png"
    shown = cli(tmp_path, "results", job_id, "--plot", str(plot))
    assert shown.returncode == 0, shown.stderr
    assert "energy" in shown.stdout and "-1.8572" in shown.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 5_000
    bell = cli(tmp_path, "submit", "--job", str(ROOT / "examples" / "bell-qasm3" / "job.yaml"), "--json")
    not_hybrid = cli(tmp_path, "results", json.loads(bell.stdout)["id"], "--plot", str(tmp_path / "x.png"))
    assert not_hybrid.returncode == 2 and "no convergence history" in not_hybrid.stderr


PIPELINE = ROOT / "examples" / "pipeline-3-stage"


def test_the_three_stage_pipeline_hands_artifacts_along(tmp_path: Path) -> None:
    """examples/pipeline-3-stage/README.md's commands: each stage a separate CLI process,
    the next one following it with --depends-on."""
    ids: list[str] = []
    for folder in ("1-vqe", "2-energy", "3-sample"):
        after = ["--depends-on", ids[-1]] if ids else []
        submitted = cli(tmp_path, "submit", "--job", str(PIPELINE / folder / "job.yaml"), *after, "--json")
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        job = json.loads(submitted.stdout)
        assert job["state"] == "DONE", job
        ids.append(job["id"])
    payloads = []
    for job_id in ids:
        shown = cli(tmp_path, "results", job_id, "--json")
        assert shown.returncode == 0, shown.stderr
        payloads.append(json.loads(shown.stdout))
    vqe, energy, sample = payloads
    optimum = vqe["summary"]["optimal_parameters"]
    assert energy["experiments"][0]["bindings"] == optimum
    assert abs(energy["experiments"][0]["expectation_values"][0] - vqe["summary"]["energy"]) < 1e-9
    assert sample["experiments"][0]["bindings"] == optimum
    counts = sample["experiments"][0]["counts"]
    assert max(counts, key=counts.get) == "01" and sum(counts.values()) == 4096
    assert [i["job_id"] for i in sample["summary"]["pipeline"]["inputs"]] == [ids[1]]
    stored = tmp_path / "artifacts" / ids[2] / "output.pipeline_h2_sample_counts.json"
    assert json.loads(stored.read_text())["value"] == [counts]
