"""Wide circuits (issue 19): Eigen's ``sim:statevector`` beside qsimcirq and qiskit-aer called directly.

Cases: a random circuit of depth 20 (``qiskit.circuit.random.random_circuit``, at most
two-qubit gates, measured, seeded by its width) at each width of ``--sizes``, and a QFT
of ``--qft`` qubits on a random basis state, each with ``--shots`` shots (1024). Every
case is lowered to ``sim:statevector``'s basis first (what the compiler hands a driver),
and each engine is timed in its own process (``--worker``), after one warm-up run there:

- ``aer``: ``AerSimulator(method="statevector").run(circuit, shots, seed).result()``;
- ``qsim``: ``qsimcirq.QSimSimulator(QSimOptions(cpu_threads=<all cores>)).run`` of the
  cirq circuit (converted through OpenQASM 2 before the timing: a cirq user has one);
- ``server``: an :class:`~eigen.server.embedded.EmbeddedServer` and the SDK's ``Client``:
  ``submit`` (the circuit, target ``sim:statevector``) -> ``wait`` -> ``results``, so
  the compile, the engine choice, the conversion and the result's way back are in it;
  the engine it chose is read from the result's timings (``qsim_s`` / ``aer_s``);
- with ``--gpu``: ``qsim-gpu`` (``QSimOptions(use_gpu=True)``) and ``server-gpu``
  (target ``sim:statevector-gpu``), and ``aer-gpu`` where qiskit-aer has a GPU device.

Reported per case: each engine's median seconds over ``--repeats`` runs, the best direct
engine, and server / best (the issue's goal: <= 1.1x). ``--crossover`` instead times aer
and qsim (conversion included, as the driver pays it) on random circuits from 4 qubits up,
in this process, and fits the cost model of :mod:`eigen.drivers.engine_choice` to them.

    .venv/bin/python benchmarks/wide_circuits.py --sizes 14,16 --qft 16      # small, ~1-2 min
    .venv/bin/python benchmarks/wide_circuits.py                              # 20, 24, 26 + QFT 24
    .venv/bin/python benchmarks/wide_circuits.py --gpu                        # on a GPU machine
    .venv/bin/python benchmarks/wide_circuits.py --crossover --max-width 20

JSON: ``benchmarks/results/wide_circuits.json`` (``--out`` to change), rewritten after every
case so that a time-boxed run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEPTH = 20
GOAL = 1.1
DIRECT = ("aer", "qsim", "qsim-gpu", "aer-gpu")


# -- the circuits ---------------------------------------------------------------------------
def build_case(case: str) -> Any:
    """``random-N`` or ``qft-N``, lowered to sim:statevector's basis, measured."""
    from qiskit import QuantumCircuit, transpile
    from qiskit.circuit.library import QFTGate
    from qiskit.circuit.random import random_circuit

    from eigen.drivers.statevector import BASIS_GATES

    kind, width_text = case.split("-")
    width = int(width_text)
    if kind == "random":
        circuit = random_circuit(width, DEPTH, max_operands=2, measure=True, seed=width)
    elif kind == "qft":
        circuit = QuantumCircuit(width, width)
        for qubit in range(0, width, 3):
            circuit.x(qubit)  # a basis state: the QFT spreads it over every outcome
        circuit.append(QFTGate(width), range(width))
        circuit.measure(range(width), range(width))
    else:
        raise SystemExit(f"unknown case {case!r}")
    return transpile(circuit, basis_gates=list(BASIS_GATES), optimization_level=1, seed_transpiler=1)


# -- one engine in its own process ------------------------------------------------------------
def threads() -> int:
    return len(os.sched_getaffinity(0))


def time_runs(run: Any, repeats: int) -> list[float]:
    run()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return seconds


def worker(engine: str, case: str, shots: int, repeats: int) -> dict[str, Any]:
    circuit = build_case(case)
    extra: dict[str, Any] = {"gates": int(circuit.size()), "depth": int(circuit.depth())}
    if engine in ("aer", "aer-gpu"):
        from qiskit_aer import AerSimulator

        simulator = AerSimulator(method="statevector", device="GPU" if engine == "aer-gpu" else "CPU")
        seconds = time_runs(lambda: simulator.run(circuit, shots=shots, seed_simulator=1).result(), repeats)
    elif engine in ("qsim", "qsim-gpu"):
        import qsimcirq
        from cirq.contrib.qasm_import import circuit_from_qasm
        from qiskit import qasm2

        program = circuit_from_qasm(qasm2.dumps(circuit))
        options = qsimcirq.QSimOptions(cpu_threads=threads(), use_gpu=engine == "qsim-gpu")
        simulator = qsimcirq.QSimSimulator(options, seed=1)
        seconds = time_runs(lambda: simulator.run(program, repetitions=shots), repeats)
    else:  # server, server-gpu
        seconds, extra["engine_timings"] = server_runs(circuit, shots, repeats, engine == "server-gpu")
    return {"seconds": seconds, "median_s": statistics.median(seconds), **extra}


def server_runs(circuit: Any, shots: int, repeats: int, gpu: bool) -> tuple[list[float], dict[str, float]]:
    from eigen.client.client import Client
    from eigen.server.embedded import EmbeddedServer

    target = "sim:statevector-gpu" if gpu else "sim:statevector"
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="eigen-wide-") as data_dir:
        server = EmbeddedServer(data_dir=Path(data_dir)).start()
        try:
            with Client(server.address, timeout=600.0) as client:

                def run() -> None:
                    submitted = client.submit(circuit, target=target, shots=shots, seed=1)
                    job = client.wait(submitted.id)
                    state = getattr(job.state, "value", str(job.state))
                    if state != "DONE":
                        raise RuntimeError(f"job ended in {state}: {getattr(job, 'error_summary', '')}")
                    result = client.results(submitted.id)
                    timings.clear()
                    timings.update(dict(result.timings))

                seconds = time_runs(run, repeats)
        finally:
            server.stop()
    return seconds, timings


def measure(engine: str, case: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--worker", engine, "--case", case,
        "--shots", str(args.shots), "--repeats", str(args.repeats),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def engine_of(timings: dict[str, float]) -> str:
    return next((key[:-2] for key in ("qsim-gpu_s", "qsim_s", "aer_s") if key in timings), "?")


def compare(args: argparse.Namespace, save: Any) -> dict[str, Any]:
    """Every case on every engine; ``save(rows)`` after each case (a time-boxed run keeps
    what it measured)."""
    cases = [f"random-{n}" for n in args.sizes] + ([f"qft-{args.qft}"] if args.qft else [])
    engines = ["aer", "qsim", "server"]
    if args.gpu:
        engines += ["qsim-gpu", "server-gpu"]
        if aer_has_gpu():
            engines.append("aer-gpu")
    rows: dict[str, Any] = {}
    for case in cases:
        row: dict[str, Any] = {}
        for engine in engines:
            row[engine] = measure(engine, case, args)
            figure = row[engine].get("median_s")
            shown = f"{figure:.3f} s" if figure is not None else f"error: {row[engine]['error']}"
            print(f"  {case:<10} {engine:<11} {shown}", flush=True)
        direct = {e: row[e]["median_s"] for e in engines if e in DIRECT and "median_s" in row[e]}
        if direct:
            best = min(direct, key=direct.__getitem__)
            row["best_direct"] = best
            for server in ("server", "server-gpu"):
                if "median_s" in row.get(server, {}):
                    row[f"{server}_over_best"] = row[server]["median_s"] / direct[best]
                    row[f"{server}_engine"] = engine_of(row[server].get("engine_timings", {}))
        rows[case] = row
        save(rows)
    return rows


def aer_has_gpu() -> bool:
    try:
        from qiskit_aer import AerSimulator

        return "GPU" in AerSimulator().available_devices()
    except Exception:
        return False


def print_table(rows: dict[str, Any]) -> None:
    print(
        f"\n{'case':<10} {'gates':>6} {'aer s':>8} {'qsim s':>8} {'server s':>9} {'engine':>7} {'x best':>7}"
    )
    for case, row in rows.items():

        def cell(engine: str, row: dict[str, Any] = row) -> str:
            value = row.get(engine, {}).get("median_s")
            return f"{value:.3f}" if value is not None else "-"

        ratio = row.get("server_over_best")
        verdict = "" if ratio is None else (" PASS" if ratio <= GOAL else " FAIL")
        gates = row.get("aer", {}).get("gates", "-")
        print(
            f"{case:<10} {gates:>6} {cell('aer'):>8} {cell('qsim'):>8} {cell('server'):>9} "
            f"{row.get('server_engine', '-'):>7} {ratio or 0:>7.2f}{verdict}"
        )
        if "server-gpu" in row:
            print(
                f"{'':<10} gpu: qsim-gpu {cell('qsim-gpu')} s, server-gpu {cell('server-gpu')} s "
                f"({row.get('server-gpu_over_best', 0):.2f}x best), aer-gpu {cell('aer-gpu')} s"
            )


# -- the crossover: the cost model's constants ------------------------------------------------
def crossover(args: argparse.Namespace) -> dict[str, Any]:
    """aer and qsim (with conversion) on random circuits of growing width; least-squares
    fit of ``fixed + per_gate*g + per_gate_amplitude*g*2^n`` to each."""
    import numpy as np
    from qiskit_aer import AerSimulator

    from eigen.drivers.qsim_engine import QsimEngine

    aer = AerSimulator(method="statevector")
    qsim = QsimEngine()
    points = []
    for width in range(4, args.max_width + 1, 2):
        circuit = build_case(f"random-{width}")
        options: dict[str, Any] = {"shots": args.shots, "seed_simulator": 1}
        if width < 14:  # as AerDriver runs it (aer_tuning.SERIAL_BELOW_QUBITS)
            options["max_parallel_threads"] = 1
        aer_s = min(time_runs(lambda c=circuit, o=options: aer.run(c, **o).result(), args.repeats))
        qsim_s = min(time_runs(lambda c=circuit: qsim.run(c, args.shots, 1), args.repeats))
        gates = int(circuit.size())
        points.append({"width": width, "gates": gates, "aer_s": aer_s, "qsim_s": qsim_s})
        print(f"  width {width:>2} gates {gates:>4}: aer {aer_s * 1e3:8.1f} ms  qsim {qsim_s * 1e3:8.1f} ms")
    design = np.array([[1.0, p["gates"], p["gates"] * 2.0 ** p["width"]] for p in points])
    fits = {}
    for engine in ("aer", "qsim"):
        observed = np.array([p[f"{engine}_s"] for p in points])
        weights = 1.0 / observed  # relative error: small and wide circuits count alike
        solution, *_ = np.linalg.lstsq(design * weights[:, None], observed * weights, rcond=None)
        fits[engine] = dict(
            zip(("fixed_s", "per_gate_s", "per_gate_amplitude_s"), solution.tolist(), strict=True)
        )
        print(f"  fit {engine}: " + ", ".join(f"{k}={v:.3g}" for k, v in fits[engine].items()))
    return {"points": points, "fits": fits}


# -- main -------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("eigen", "qiskit", "qiskit-aer", "qiskit-aer-gpu", "qsimcirq", "cirq-core"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[20, 24, 26])
    parser.add_argument("--qft", type=int, default=24, help="width of the QFT case (0: none)")
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per engine and case")
    parser.add_argument(
        "--gpu", action="store_true", help="add sim:statevector-gpu and the direct GPU engines"
    )
    parser.add_argument("--crossover", action="store_true", help="fit the engine-choice cost model")
    parser.add_argument("--max-width", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "wide_circuits.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.case, args.shots, args.repeats)))
        return
    print(f"wide circuits: {threads()} cores, {platform.processor() or platform.machine()}", flush=True)
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "cores": threads(),
        "load_average": os.getloadavg(),
        "versions": versions(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(cases: dict[str, Any]) -> None:
        report["cases"] = cases
        args.out.write_text(json.dumps(report, indent=2))

    if args.crossover:
        report["crossover"] = crossover(args)
        args.out.write_text(json.dumps(report, indent=2))
    else:
        print_table(compare(args, save))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
