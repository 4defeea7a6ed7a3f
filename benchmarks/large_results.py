"""Large results (issue 19): a 20-qubit job with 1,000,000 shots, its per-shot memory, and
its probabilities and state vector, through a real ``eigen-server`` process.

Each case submits one job with the SDK and times: the run (submit -> DONE, by WatchJob),
``GetJobResults`` (one message) and ``StreamResults`` (``Client.stream_results``, chunks of
``--chunk`` values, each dropped once counted: a reader that never holds the whole result).
Around each read the server's peak resident memory is reset (``/proc/PID/clear_refs``)
and read back (``VmHWM``), so the figure is what serving that read cost the server above
its resident memory before it; the stored result's size is the database row's JSON.

The circuit: ``random_circuit(20, 20, max_operands=2, seed=20)``, lowered to
sim:statevector's basis, measured; about 630,000 distinct outcomes in 1,000,000 shots.

    .venv/bin/python benchmarks/large_results.py                 # ~2-4 minutes on 2 vCPU
    .venv/bin/python benchmarks/large_results.py --shots 100000  # smaller

JSON: ``benchmarks/results/large_results.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from small_jobs import eigen_server

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 1024 * 1024


def build_circuit(width: int) -> Any:
    from qiskit import transpile
    from qiskit.circuit.random import random_circuit

    from eigen.drivers.statevector import BASIS_GATES

    circuit = random_circuit(width, 20, max_operands=2, measure=True, seed=width)
    return transpile(circuit, basis_gates=list(BASIS_GATES), optimization_level=1, seed_transpiler=1)


def resident(pid: int, key: str) -> int:
    """``VmRSS`` or ``VmHWM`` (the peak since the last reset) of ``pid``, bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_peak(pid: int) -> int:
    """Reset ``pid``'s peak resident memory to its current one; returns the current one."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return resident(pid, "VmRSS")


def measured(pid: int, read: Any) -> tuple[Any, float, float]:
    """``read()``'s value, seconds, and the server's peak memory above its resident memory
    before the read, MiB."""
    before = reset_peak(pid)
    start = time.perf_counter()
    value = read()
    elapsed = time.perf_counter() - start
    return value, elapsed, (resident(pid, "VmHWM") - before) / MIB


def run_case(
    client: Any, pid: int, name: str, circuit: Any, shots: int, outputs: list[str], chunk: int
) -> dict[str, Any]:
    start = time.perf_counter()
    future = client.submit(circuit, shots=shots, seed=7, outputs=outputs)
    client.wait(future.job_id)
    ran = time.perf_counter() - start

    def stream() -> tuple[int, int]:
        chunks = values = 0
        for part in client.stream_results(future.job_id, chunk_size=chunk):
            chunks += 1
            for e in part.result.experiments:
                values += len(e.counts) + len(e.memory) + len(e.probabilities) + len(e.statevector)
        return chunks, values

    # the stream first: the server's allocator keeps what a read took, so a later read's
    # peak above it would show less than it needs
    (chunks, values), stream_s, stream_mib = measured(pid, stream)
    client.cache.clear()
    whole, get_s, get_mib = measured(pid, lambda: client.results(future.job_id))
    experiment = whole.experiments[0]
    row = {
        "case": name,
        "shots": shots,
        "outputs": outputs,
        "engine": whole.engine,
        "outcomes": len(experiment.counts),
        "memory": len(experiment.memory),
        "dense": len(experiment.probabilities) + len(experiment.statevector),
        "run_s": round(ran, 3),
        "get_s": round(get_s, 3),
        "get_server_peak_mib": round(get_mib, 1),
        "stream_s": round(stream_s, 3),
        "stream_chunks": chunks,
        "stream_values": values,
        "stream_server_peak_mib": round(stream_mib, 1),
    }
    print(
        f"{name:<22} run {ran:6.2f} s  get {get_s:5.2f} s (+{get_mib:6.1f} MiB)  "
        f"stream {stream_s:5.2f} s in {chunks} chunks (+{stream_mib:6.1f} MiB)  engine {whole.engine}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--shots", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="values per StreamResults chunk")
    parser.add_argument("--out", type=Path, default=RESULTS / "large_results.json")
    args = parser.parse_args()

    from eigen.client import Client

    circuit = build_circuit(args.width)
    cases = [
        ("counts", args.shots, ["counts"]),
        ("counts+memory", args.shots, ["counts", "memory"]),
        ("probabilities+statevector", 1024, ["probabilities", "statevector"]),
    ]
    rows = []
    with eigen_server("warning", 120) as (address, pid, _), Client(address, timeout=600) as client:
        print(
            f"eigen-server pid {pid} on {address}; resident {resident(pid, 'VmRSS') / MIB:.0f} MiB",
            flush=True,
        )
        for name, shots, outputs in cases:
            rows.append(run_case(client, pid, name, circuit, shots, outputs, args.chunk))
    report = {
        "benchmark": "large_results",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "width": args.width,
        "chunk": args.chunk,
        "client_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
