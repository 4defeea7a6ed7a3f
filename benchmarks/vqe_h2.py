"""H2 VQE through Eigen (embedded) beside the same VQE in process (qiskit + scipy).

Eigen: an :class:`~eigen.server.embedded.EmbeddedServer` in this process (all roles,
gRPC on a free loopback port, a temporary data folder) and :class:`eigen.client.Client`;
each run submits ``examples/vqe-h2/job.yaml`` and waits for its results. The time is
submit -> results (server start-up excluded).

In process: the same ansatz (ry t0 q0, ry t1 q1, cx 0->1, ry t2 q0, ry t3 q1), the same
5-term H2 Hamiltonian and the same optimiser (scipy COBYLA, maxiter 200, x0 = zeros),
with qiskit's ``StatevectorEstimator``: exact expectation values, like the job's shots: 0.

Both are repeated ``--repeats`` times after ``--warmup`` unmeasured runs; medians are
compared (target: Eigen <= 1.5x in process). Energies are compared to the exact ground
state of the Hamiltonian, -1.8572750302023795 Ha (/work/shared/reference/h2-sto3g.md).

    .venv/bin/python benchmarks/vqe_h2.py            # ~10-30 s
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
JOB_FILE = ROOT / "examples" / "vqe-h2" / "job.yaml"
RESULTS = Path(__file__).resolve().parent / "results"

#: The H2 Hamiltonian (STO-3G, 0.735 A, parity mapping, two-qubit reduction), Qiskit order.
HAMILTONIAN: tuple[tuple[str, float], ...] = (
    ("II", -1.052373245772859),
    ("IZ", 0.39793742484318045),
    ("ZI", -0.39793742484318045),
    ("ZZ", -0.01128010425623538),
    ("XX", 0.18093119978423156),
)
EXACT_ENERGY = -1.8572750302023795
CHEMICAL_ACCURACY = 1.6e-3
MAX_ITERS = 200
TARGET_RATIO = 1.5


# -- in process: qiskit StatevectorEstimator + scipy COBYLA ----------------------------------
def in_process_vqe(max_iters: int) -> dict[str, Any]:
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter
    from qiskit.primitives import StatevectorEstimator
    from qiskit.quantum_info import SparsePauliOp
    from scipy.optimize import minimize

    started = time.perf_counter()
    cpu = time.process_time()
    t = [Parameter(f"t{i}") for i in range(4)]
    ansatz = QuantumCircuit(2)
    ansatz.ry(t[0], 0)
    ansatz.ry(t[1], 1)
    ansatz.cx(0, 1)
    ansatz.ry(t[2], 0)
    ansatz.ry(t[3], 1)
    hamiltonian = SparsePauliOp.from_list(list(HAMILTONIAN))
    estimator = StatevectorEstimator()
    evaluations = 0
    iterations = 0

    def energy(x: np.ndarray) -> float:
        nonlocal evaluations
        evaluations += 1
        return float(estimator.run([(ansatz, hamiltonian, x)]).result()[0].data.evs)

    def callback(intermediate_result: Any) -> None:
        nonlocal iterations
        iterations += 1

    result = minimize(energy, np.zeros(4), method="COBYLA", options={"maxiter": max_iters}, callback=callback)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_s": time.process_time() - cpu,
        "energy": float(result.fun),
        "parameters": [float(v) for v in result.x],
        "iterations": iterations,
        "evaluations": evaluations,
        "nfev": int(result.nfev),
        "converged": bool(result.success),
        "message": str(result.message),
    }


# -- through Eigen: EmbeddedServer + Client ---------------------------------------------------
def eigen_vqe(client: Any, request: Any) -> dict[str, Any]:
    started = time.perf_counter()
    cpu = time.process_time()  # this process: the client and the embedded server's threads
    submitted = client.submit(request)
    job = client.wait(submitted.id)
    results = client.results(submitted.id)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu
    state = getattr(job.state, "value", str(job.state))
    if state != "DONE":
        raise RuntimeError(f"job {submitted.id} ended in {state}: {getattr(job, 'error_summary', '')}")
    summary = results.summary
    return {
        "seconds": seconds,
        "cpu_s": cpu_s,
        "job_id": submitted.id,
        "energy": float(summary["energy"]),
        "parameters": summary.get("optimal_parameters"),
        "iterations": _whole(summary.get("iterations")),
        "evaluations": _whole(summary.get("evaluations")),
        "converged": summary.get("converged"),
        "message": summary.get("message"),
        "server_optimizer_s": summary.get("optimizer_s"),
        "job_timings_s": dict(getattr(job, "timings", {}) or {}),
    }


def _whole(value: Any) -> int | None:
    """Counts come back through a protobuf Struct as floats."""
    return None if value is None else int(value)


def run_both(warmup: int, repeats: int) -> dict[str, Any]:
    """Warm-up runs, then measured runs interleaved (in process, eigen, in process, ...) so
    that the noise of a shared machine falls on both alike."""
    from eigen.client.client import Client
    from eigen.jobfile import load_job_file
    from eigen.server.embedded import EmbeddedServer

    request = load_job_file(JOB_FILE)
    runs: dict[str, Any] = {"local_warm": [], "local": [], "eigen_warm": [], "eigen": []}
    with tempfile.TemporaryDirectory(prefix="eigen-vqe-bench-") as data_dir:
        started = time.perf_counter()
        server = EmbeddedServer(data_dir=Path(data_dir)).start()
        runs["startup_s"] = time.perf_counter() - started
        try:
            with Client(server.address, timeout=120.0) as client:
                for _ in range(warmup):
                    runs["local_warm"].append(in_process_vqe(MAX_ITERS))
                    runs["eigen_warm"].append(eigen_vqe(client, request))
                for index in range(repeats):
                    runs["local"].append(in_process_vqe(MAX_ITERS))
                    runs["eigen"].append(eigen_vqe(client, request))
                    print(
                        f"  run {index + 1}/{repeats}: in process {runs['local'][-1]['seconds']:.3f} s, "
                        f"eigen {runs['eigen'][-1]['seconds']:.3f} s",
                        flush=True,
                    )
        finally:
            server.stop()
    return runs


# -- figures --------------------------------------------------------------------------------
def describe(runs: list[dict[str, Any]], warm: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["seconds"] for r in runs]
    cpu = [r["cpu_s"] for r in runs]
    last = runs[-1]
    return {
        "seconds_each": [round(x, 4) for x in times],
        "seconds_median": statistics.median(times),
        "cpu_s_each": [round(x, 4) for x in cpu],
        "cpu_s_median": statistics.median(cpu),
        "warmup_seconds": [round(r["seconds"], 4) for r in warm],
        "energy": last["energy"],
        "error_ha": last["energy"] - EXACT_ENERGY,
        "within_chemical_accuracy": abs(last["energy"] - EXACT_ENERGY) <= CHEMICAL_ACCURACY,
        "energies_each": [r["energy"] for r in runs],
        "iterations": last["iterations"],
        "evaluations": last["evaluations"],
        "ms_per_evaluation": 1000.0 * statistics.median(times) / last["evaluations"]
        if last.get("evaluations")
        else None,
        "last_run": last,
    }


def git_state() -> dict[str, Any]:
    """The commit measured, and whether src/ had uncommitted changes (others edit it)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        return {"commit": git("rev-parse", "HEAD"), "src_dirty": bool(git("status", "--porcelain", "src"))}
    except (OSError, subprocess.SubprocessError):
        return {}


def versions() -> dict[str, str]:
    found: dict[str, str] = {"python": platform.python_version()}
    for name in ("eigen", "qiskit", "qiskit-aer", "scipy", "numpy", "grpcio"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="measured runs of each (median)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs of each first")
    parser.add_argument("--out", type=Path, default=RESULTS / "vqe_h2.json")
    parser.add_argument("--verbose", action="store_true", help="keep the embedded server's INFO logs")
    args = parser.parse_args()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None  # others' work adds noise
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    if not args.verbose:
        logging.disable(logging.INFO)  # the embedded server logs every state change at INFO

    print(
        f"H2 VQE, in process (StatevectorEstimator + COBYLA) and eigen embedded (submit -> results): "
        f"{args.warmup} warm-up + {args.repeats} interleaved runs each",
        flush=True,
    )
    runs = run_both(args.warmup, args.repeats)
    startup = runs["startup_s"]
    local = describe(runs["local"], runs["local_warm"])
    eigen = describe(runs["eigen"], runs["eigen_warm"])
    ratio = eigen["seconds_median"] / local["seconds_median"]
    cpu_ratio = eigen["cpu_s_median"] / local["cpu_s_median"]
    report: dict[str, Any] = {
        "benchmark": "vqe_h2",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "platform": platform.platform(),
            "loadavg_1m_start": None if load_start is None else round(load_start, 2),
            "loadavg_1m_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
        "versions": versions(),
        "git": git_state(),
        "problem": {
            "hamiltonian": dict(HAMILTONIAN),
            "exact_energy_ha": EXACT_ENERGY,
            "ansatz": "ry(t0) q0, ry(t1) q1, cx q0->q1, ry(t2) q0, ry(t3) q1",
            "optimizer": f"scipy COBYLA, maxiter {MAX_ITERS}, x0 zeros",
            "estimation": "exact (statevector)",
            "job": str(JOB_FILE.relative_to(ROOT)),
        },
        "config": {"repeats": args.repeats, "warmup": args.warmup},
        "in_process": local,
        "eigen_embedded": {**eigen, "server_startup_s": startup},
        "ratio_eigen_to_in_process": ratio,
        "cpu_ratio_eigen_to_in_process": cpu_ratio,
        "target": {"ratio_at_most": TARGET_RATIO, "pass": ratio <= TARGET_RATIO},
    }

    print()
    print(
        f"{'':<30} {'median s':>9} {'energy (Ha)':>16} {'error (Ha)':>11} "
        f"{'iters':>6} {'evals':>6} {'ms/eval':>8}"
    )
    for name, row in (("in process (qiskit + scipy)", local), ("eigen embedded", eigen)):
        print(
            f"{name:<30} {row['seconds_median']:>9.3f} {row['energy']:>16.10f} {row['error_ha']:>11.2e} "
            f"{row['iterations']!s:>6} {row['evaluations']!s:>6} "
            f"{row['ms_per_evaluation'] or float('nan'):>8.2f}"
        )
    print()
    print(f"runs (s): in process {local['seconds_each']}, eigen {eigen['seconds_each']}")
    print(
        f"CPU (s, this process, median): in process {local['cpu_s_median']:.3f}, "
        f"eigen {eigen['cpu_s_median']:.3f} ({cpu_ratio:.2f}x)"
    )
    print(f"warm-up (s): in process {local['warmup_seconds']}, eigen {eigen['warmup_seconds']}")
    print(f"eigen server start-up (excluded): {startup:.2f} s")
    machine = report["machine"]
    print(
        f"machine: {machine['cpu_count']} CPUs, load average (1 min) "
        f"{machine['loadavg_1m_start']} at start, {machine['loadavg_1m_end']} at end"
    )
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"ratio eigen / in process: {ratio:.2f}x (target <= {TARGET_RATIO:g}x) -> {verdict}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
