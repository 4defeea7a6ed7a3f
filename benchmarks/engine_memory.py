"""Memory an engine run takes beyond its state (issue 19): the overhead of
:mod:`eigen.models.state_memory`.

Each (engine, width) runs in a process of its own (``--worker``): the driver is built and
warmed up on a 4-qubit circuit, the peak resident set (``ru_maxrss``) is read as the
baseline, then one run of a ``width``-qubit circuit (a Hadamard on every qubit, a chain of
CNOTs, a layer of RZ, all measured, ``--shots`` shots) goes through the real driver
(``sim:aer``: qiskit-aer complex128; ``sim:qsim``: qsimcirq complex64, the OpenQASM 2
round trip included). Reported: peak - baseline, the state's own bytes, and the
overhead (the difference).

    .venv/bin/python benchmarks/engine_memory.py                       # 20, 22, 24, 26
    .venv/bin/python benchmarks/engine_memory.py --sizes 20,22 --engines aer
    .venv/bin/python benchmarks/engine_memory.py --circuit random --shots 100000 --sizes 24

JSON: ``benchmarks/results/engine_memory.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEVICES = {"aer": "sim:aer", "qsim": "sim:qsim"}
MIB = 1 << 20


def circuit(width: int, kind: str = "chain") -> Any:
    from qiskit import QuantumCircuit

    if kind == "random":  # wide_circuits.py's case, lowered to sim:statevector's basis
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from wide_circuits import build_case

        return build_case(f"random-{width}")
    qc = QuantumCircuit(width, width)
    qc.h(range(width))
    for qubit in range(width - 1):
        qc.cx(qubit, qubit + 1)
    for qubit in range(width):
        qc.rz(0.1 * (qubit + 1), qubit)
    qc.measure(range(width), range(width))
    return qc


def peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def worker(engine: str, width: int, shots: int, kind: str) -> dict[str, Any]:
    from eigen.drivers.qsim import QsimDriver
    from eigen.drivers.statevector import AerStatevectorDriver
    from eigen.models.compiled import ExecutionRequest
    from eigen.models.state_memory import StateMemory, state_bytes

    driver = AerStatevectorDriver() if engine == "aer" else QsimDriver()
    wide = circuit(width, kind)  # built (and lowered) before the baseline: not the engine's
    driver.run(ExecutionRequest(DEVICES[engine], circuit(4), shots, seed=1))
    baseline = peak_bytes()
    result = driver.run(ExecutionRequest(DEVICES[engine], wide, shots, seed=1))
    peak = peak_bytes()
    held = StateMemory.COMPLEX128 if engine == "aer" else StateMemory.COMPLEX64
    state = state_bytes(held, width)
    return {
        "engine": engine,
        "width": width,
        "circuit": kind,
        "shots": shots,
        "baseline_mib": round(baseline / MIB, 1),
        "run_mib": round((peak - baseline) / MIB, 1),
        "state_mib": round(state / MIB, 1),
        "overhead_mib": round((peak - baseline - state) / MIB, 1),
        "seconds": round(sum(v for k, v in result.timings.items() if k in ("aer_s", "qsim_s")), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20,22,24,26")
    parser.add_argument("--engines", default="aer,qsim")
    parser.add_argument("--shots", type=int, default=1024)
    parser.add_argument("--circuit", choices=("chain", "random"), default="chain")
    parser.add_argument("--out", type=Path, default=RESULTS / "engine_memory.json")
    parser.add_argument("--worker", nargs=2, metavar=("ENGINE", "WIDTH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.shots, args.circuit)))
        return
    rows: list[dict[str, Any]] = []
    for engine in args.engines.split(","):
        for width in (int(w) for w in args.sizes.split(",")):
            command = [sys.executable, __file__, "--worker", engine, str(width)]
            command += ["--shots", str(args.shots), "--circuit", args.circuit]
            out = subprocess.run(
                command,
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            ).stdout
            row = json.loads(out.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{engine:5} {args.circuit} {width:3} q, {args.shots} shots: "
                f"run {row['run_mib']:9.1f} MiB, state {row['state_mib']:9.1f} MiB, "
                f"overhead {row['overhead_mib']:8.1f} MiB (baseline {row['baseline_mib']} MiB, "
                f"{row['seconds']} s)",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {"when": datetime.now(UTC).isoformat(), "machine": platform.machine(), "rows": rows}
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
