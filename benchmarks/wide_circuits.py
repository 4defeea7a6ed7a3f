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

The sweep (``--sweep`` alone; in the default run too, ``--sweep-runs 0`` to skip it):
``--sweep-runs`` (1000) bindings of a ``--sweep-width`` (12) qubit hardware-efficient
ansatz (:func:`ansatz`, depth 21), ``--sweep-shots`` (100) shots each, one timed run per
engine in its own process, wall and CPU seconds (the process and its children): ``aer-call``
(one ``run`` with ``parameter_binds`` and the options of :mod:`eigen.drivers.aer_tuning`),
``aer-call-serial`` (the same on one thread), ``aer-loop`` (one ``run`` per binding),
``qsim-loop`` (qsimcirq, the cirq circuit with sympy symbols, one resolver per run) and
``server`` (submit with ``parameter_bindings`` -> wait -> results on ``sim:statevector``).
Reported: server / best direct, loop / one tuned call, serial call / tuned call.

``--tuning`` times aer's options (threads, parallel experiments and shots, fusion) on the
ansatz at each width up to ``--max-width`` and 1, 100 (to 18 qubits) and 1000 (to 12) runs,
in this process, interleaved; the best per cell is what :mod:`eigen.drivers.aer_tuning`
encodes.

    .venv/bin/python benchmarks/wide_circuits.py --sizes 14,16 --qft 16      # small, ~1-2 min
    .venv/bin/python benchmarks/wide_circuits.py                              # 20, 24, 26 + QFT 24
    .venv/bin/python benchmarks/wide_circuits.py --gpu                        # on a GPU machine
    .venv/bin/python benchmarks/wide_circuits.py --crossover --max-width 20
    .venv/bin/python benchmarks/wide_circuits.py --sweep                      # ~20 s on 2 cores
    .venv/bin/python benchmarks/wide_circuits.py --tuning --max-width 22      # ~20 min on 2 cores

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
SWEEP_LAYERS = 5  # ansatz layers: circuit depth 21 (4 per layer and the measurement)
SWEEP_SEED = 19


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


def ansatz(width: int, layers: int = SWEEP_LAYERS) -> Any:
    """A hardware-efficient ansatz, measured: per layer ``ry`` and ``rz`` on every qubit (free
    Parameters ``t0``, ``t1``, ...) and a brickwork of ``cx`` (even pairs, then odd pairs);
    already on sim:statevector's basis."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    circuit = QuantumCircuit(width, width)
    count = 0
    for _ in range(layers):
        for qubit in range(width):
            circuit.ry(Parameter(f"t{count}"), qubit)
            circuit.rz(Parameter(f"t{count + 1}"), qubit)
            count += 2
        for start in (0, 1):
            for qubit in range(start, width - 1, 2):
                circuit.cx(qubit, qubit + 1)
    circuit.measure(range(width), range(width))
    return circuit


def cirq_ansatz(width: int, layers: int = SWEEP_LAYERS) -> Any:
    """The same ansatz as a cirq circuit with sympy symbols of the same names (what a cirq
    user has: no conversion to time)."""
    import cirq
    import sympy

    qubits = cirq.LineQubit.range(width)
    operations: list[Any] = []
    count = 0
    for _ in range(layers):
        for qubit in qubits:
            operations.append(cirq.ry(sympy.Symbol(f"t{count}")).on(qubit))
            operations.append(cirq.rz(sympy.Symbol(f"t{count + 1}")).on(qubit))
            count += 2
        for start in (0, 1):
            operations.extend(cirq.CNOT(qubits[q], qubits[q + 1]) for q in range(start, width - 1, 2))
    operations.append(cirq.measure(*qubits, key="m"))
    return cirq.Circuit(operations)


def sweep_bindings(circuit: Any, runs: int) -> list[dict[str, float]]:
    """``runs`` bindings of every parameter of ``circuit`` by name, drawn with a fixed seed."""
    import numpy as np

    names = sorted(p.name for p in circuit.parameters)
    values = np.random.default_rng(SWEEP_SEED).uniform(0.0, 2 * np.pi, (runs, len(names)))
    return [dict(zip(names, row.tolist(), strict=True)) for row in values]


def binds_table(circuit: Any, bindings: list[dict[str, float]]) -> dict[Any, list[float]]:
    """aer's ``parameter_binds`` entry for ``bindings``: ``{Parameter: [value per run]}``."""
    return {p: [b[p.name] for b in bindings] for p in circuit.parameters}


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

    from eigen.drivers.aer_tuning import run_options
    from eigen.drivers.qsim_engine import QsimEngine

    aer = AerSimulator(method="statevector")
    qsim = QsimEngine()
    points = []
    for width in range(4, args.max_width + 1, 2):
        circuit = build_case(f"random-{width}")
        options: dict[str, Any] = {"shots": args.shots, "seed_simulator": 1, **run_options(circuit, 1)}
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


# -- a sweep of many small circuits --------------------------------------------------------------
SWEEP_ENGINES = ("aer-call", "aer-call-serial", "aer-loop", "qsim-loop", "server")


def sweep_worker(engine: str, width: int, runs: int, shots: int) -> dict[str, Any]:
    """One timed run (after a 10-binding warm-up) of ``runs`` bindings of :func:`ansatz`:
    ``aer-call`` one ``run`` with ``parameter_binds`` and :func:`run_options`'s options,
    ``aer-call-serial`` the same on one thread, ``aer-loop`` one ``run`` per binding (the
    options of one run), ``qsim-loop`` qsimcirq on the cirq circuit, one resolver per
    ``run``, ``server`` submit with ``parameter_bindings`` -> wait -> results."""
    from eigen.drivers.aer_tuning import run_options

    circuit = ansatz(width)
    bindings = sweep_bindings(circuit, runs)
    extra: dict[str, Any] = {"gates": int(circuit.size()), "depth": int(circuit.depth())}
    if engine.startswith("aer"):
        from qiskit_aer import AerSimulator

        simulator = AerSimulator(method="statevector")
        if engine == "aer-loop":
            options = run_options(circuit, 1)

            def run(chosen: list[dict[str, float]]) -> None:
                for binding in chosen:
                    simulator.run(
                        circuit,
                        shots=shots,
                        seed_simulator=1,
                        parameter_binds=[binds_table(circuit, [binding])],
                        **options,
                    ).result()
        else:
            options = run_options(circuit, runs) if engine == "aer-call" else {"max_parallel_threads": 1}

            def run(chosen: list[dict[str, float]]) -> None:
                table = binds_table(circuit, chosen)
                simulator.run(
                    circuit, shots=shots, seed_simulator=1, parameter_binds=[table], **options
                ).result()

        extra["options"] = options
    elif engine == "qsim-loop":
        import cirq
        import qsimcirq

        program = cirq_ansatz(width)
        qsim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=threads()), seed=1)

        def run(chosen: list[dict[str, float]]) -> None:
            for binding in chosen:
                qsim.run(program, cirq.ParamResolver(binding), repetitions=shots)
    else:
        return sweep_server(circuit, bindings, shots, extra)
    run(bindings[:10])
    wall, cpu = timed(lambda: run(bindings))
    return {"median_s": wall, "cpu_s": cpu, **extra}


def sweep_server(
    circuit: Any, bindings: list[dict[str, float]], shots: int, extra: dict[str, Any]
) -> dict[str, Any]:
    from eigen.client.client import Client
    from eigen.server.embedded import EmbeddedServer

    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="eigen-sweep-") as data_dir:
        server = EmbeddedServer(data_dir=Path(data_dir)).start()
        try:
            with Client(server.address, timeout=600.0) as client:

                def run(chosen: list[dict[str, float]]) -> None:
                    submitted = client.submit(
                        circuit, target="sim:statevector", shots=shots, seed=1, parameter_bindings=chosen
                    )
                    job = client.wait(submitted.id)
                    state = getattr(job.state, "value", str(job.state))
                    if state != "DONE":
                        raise RuntimeError(f"job ended in {state}: {getattr(job, 'error_summary', '')}")
                    result = client.results(submitted.id)
                    found["experiments"] = len(result.experiments)
                    found["engine_timings"] = dict(result.timings)
                    found["engine"] = getattr(result, "engine", None) or engine_of(found["engine_timings"])

                run(bindings[:10])
                wall, cpu = timed(lambda: run(bindings))
        finally:
            server.stop()
    return {"median_s": wall, "cpu_s": cpu, **extra, **found}


def sweep(args: argparse.Namespace, save: Any) -> dict[str, Any]:
    """Each engine of :data:`SWEEP_ENGINES` on the sweep in a process of its own; server /
    best direct, and one tuned aer call against the loop of single runs."""
    row: dict[str, Any] = {"width": args.sweep_width, "runs": args.sweep_runs, "shots": args.sweep_shots}
    for engine in SWEEP_ENGINES:
        command = [
            sys.executable, __file__, "--worker", engine,
            "--case", f"sweep-{args.sweep_width}-{args.sweep_runs}", "--shots", str(args.sweep_shots),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
        if done.returncode != 0:
            row[engine] = {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]}
            print(f"  sweep {engine:<16} error: {row[engine]['error']}", flush=True)
        else:
            row[engine] = dict(json.loads(done.stdout.strip().splitlines()[-1]))
            print(
                f"  sweep {engine:<16} {row[engine]['median_s']:8.3f} s wall, "
                f"{row[engine]['cpu_s']:8.3f} s CPU",
                flush=True,
            )
        save({"sweep": row})
    direct = {e: row[e]["median_s"] for e in ("aer-call", "aer-loop", "qsim-loop") if "median_s" in row[e]}
    if direct:
        best = min(direct, key=direct.__getitem__)
        row["best_direct"] = best
        if "median_s" in row["server"]:
            row["server_over_best"] = row["server"]["median_s"] / direct[best]
    if "median_s" in row["aer-call"] and "median_s" in row["aer-loop"]:
        row["loop_over_call"] = row["aer-loop"]["median_s"] / row["aer-call"]["median_s"]
    if "median_s" in row["aer-call"] and "median_s" in row["aer-call-serial"]:
        row["serial_over_call"] = row["aer-call-serial"]["median_s"] / row["aer-call"]["median_s"]
    print(
        "  sweep: "
        + ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
            for k, v in row.items()
            if not isinstance(v, dict)
        ),
        flush=True,
    )
    save({"sweep": row})
    return {"sweep": row}


# -- aer's options per width and number of runs ----------------------------------------------
def tuning_variants(width: int, runs: int) -> dict[str, dict[str, Any]]:
    """The option sets tried for ``runs`` bindings of a ``width``-qubit circuit (aer's own
    defaults: all threads, parallel state updates from 14 qubits, fusion of up to 5 qubits
    from 14 qubits)."""
    cores = threads()
    variants: dict[str, dict[str, Any]] = {
        "default": {},
        "serial": {"max_parallel_threads": 1},
        "serial+fusion": {"max_parallel_threads": 1, "fusion_threshold": 1},
        "shots": {"max_parallel_threads": cores, "max_parallel_shots": cores},
        "no-fusion": {"fusion_enable": False},
        "fusion-max3": {"fusion_threshold": 1, "fusion_max_qubit": 3},
        "fusion-max2": {"fusion_threshold": 1, "fusion_max_qubit": 2},
    }
    if width < 14:  # below aer's own thresholds: parallel state updates and fusion forced on
        variants["threads"] = {"statevector_parallel_threshold": 1}
        variants["fusion"] = {"fusion_threshold": 1}
    if runs > 1:
        variants["experiments"] = {"max_parallel_threads": cores, "max_parallel_experiments": cores}
        variants["experiments+fusion"] = {**variants["experiments"], "fusion_threshold": 1}
    return variants


def tuning_cells(max_width: int) -> list[tuple[int, int]]:
    """(width, runs) measured: 1,000 runs up to 12 qubits, 100 up to 18, one run to ``max_width``."""
    cells = []
    for width in range(4, max_width + 1, 2):
        cells += [
            (width, runs) for runs in (1, 100, 1000) if runs == 1 or width <= (12 if runs == 1000 else 18)
        ]
    return cells


def process_cpu_s() -> float:
    """CPU seconds of this process and its live children (a server's driver processes)."""
    import psutil  # a qiskit-aer dependency

    me = psutil.Process()
    total = sum(me.cpu_times()[:2])
    for child in me.children(recursive=True):
        try:
            total += sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return total


def timed(run: Any) -> tuple[float, float]:
    """(wall, CPU) seconds of one ``run()``."""
    wall, cpu = time.perf_counter(), process_cpu_s()
    run()
    return time.perf_counter() - wall, process_cpu_s() - cpu


def tuning(args: argparse.Namespace, save: Any) -> dict[str, Any]:
    """Every variant of :func:`tuning_variants` on the ansatz at each (width, runs), in this
    process, interleaved (one timed call of each variant per round, ``--repeats`` rounds):
    median wall and CPU seconds, and the best by wall (within 5% of it: the least CPU)."""
    from qiskit_aer import AerSimulator

    from eigen.drivers.aer_tuning import run_options

    simulator = AerSimulator(method="statevector")
    rows: dict[str, Any] = {}
    for width, runs in tuning_cells(args.max_width):
        circuit = ansatz(width)
        table = binds_table(circuit, sweep_bindings(circuit, runs))
        variants = tuning_variants(width, runs)
        variants["run_options"] = run_options(circuit, runs)
        base = {"shots": args.shots, "seed_simulator": 1, "parameter_binds": [table]}

        def call(options: dict[str, Any], c: Any = circuit, b: dict[str, Any] = base) -> None:
            simulator.run(c, **b, **options).result()

        walls: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        for options in variants.values():  # warm-up: one run of each
            simulator.run(
                circuit,
                **{**base, "parameter_binds": [binds_table(circuit, sweep_bindings(circuit, 1))]},
                **options,
            ).result()
        for _ in range(args.repeats):
            for name, options in variants.items():
                wall, cpu = timed(lambda o=options: call(o))
                walls[name].append(wall)
                cpus[name].append(cpu)
        cell: dict[str, dict[str, Any]] = {
            name: {
                "wall_s": statistics.median(walls[name]),
                "cpu_s": statistics.median(cpus[name]),
                "options": variants[name],
            }
            for name in variants
        }
        fastest = min(cell[n]["wall_s"] for n in variants if n != "run_options")
        near = [n for n in variants if n != "run_options" and cell[n]["wall_s"] <= 1.05 * fastest]
        best = min(near, key=lambda n: cell[n]["cpu_s"])
        rows[f"{width}x{runs}"] = {
            "width": width,
            "runs": runs,
            "gates": int(circuit.size()),
            "best": best,
            "variants": cell,
        }
        tuned = cell["run_options"]["wall_s"]
        print(
            f"  width {width:>2} runs {runs:>4}: best {best:<18} {cell[best]['wall_s'] * 1e3:9.1f} ms "
            f"(cpu {cell[best]['cpu_s'] * 1e3:8.1f}); default {cell['default']['wall_s'] * 1e3:9.1f}, "
            f"serial {cell['serial']['wall_s'] * 1e3:9.1f}, run_options {tuned * 1e3:9.1f} ms",
            flush=True,
        )
        save(rows)
    return rows


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
    parser.add_argument(
        "--tuning", action="store_true", help="time aer's options per width and runs (drivers/aer_tuning.py)"
    )
    parser.add_argument("--sweep", action="store_true", help="only the sweep case (in the default run too)")
    parser.add_argument("--sweep-width", type=int, default=12)
    parser.add_argument("--sweep-runs", type=int, default=1000, help="bindings of the sweep case (0: none)")
    parser.add_argument("--sweep-shots", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "wide_circuits.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker and args.case.startswith("sweep-"):
        _, width, runs = args.case.split("-")
        print(json.dumps(sweep_worker(args.worker, int(width), int(runs), args.shots), default=str))
        return
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
        args.out.write_text(json.dumps(report, indent=2, default=str))

    if args.crossover:
        report["crossover"] = crossover(args)
        args.out.write_text(json.dumps(report, indent=2))
    elif args.tuning:

        def save_tuning(rows: dict[str, Any]) -> None:
            report["tuning"] = rows
            args.out.write_text(json.dumps(report, indent=2, default=str))

        tuning(args, save_tuning)
    elif args.sweep:
        save(sweep(args, save))
    else:
        rows = compare(args, save)
        print_table(rows)
        if args.sweep_runs:
            rows["sweep"] = sweep(args, lambda extra: save({**rows, **extra}))["sweep"]
            save(rows)
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
