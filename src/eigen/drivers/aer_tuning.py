"""The qiskit-aer run options chosen per circuit: threads and parallel experiments by width
and number of runs, as measured by ``benchmarks/wide_circuits.py --tuning`` (figures in
benchmarks/README.md, "wide_circuits.py").

The rule, for ``runs`` bindings of an ``n``-qubit circuit on a worker with ``cores`` cores:

- ``n < PARALLEL_EXPERIMENTS_BELOW_QUBITS`` and ``runs > 1``: the runs go over the cores
  (``max_parallel_experiments``), one thread each. A narrow state fits a core's cache and
  its updates gain nothing from more threads, while separate experiments share nothing.
  aer seeds experiment ``i`` with ``seed + i`` whichever thread runs it, so the counts for a
  seed are those of a serial run.
- ``n < SERIAL_BELOW_QUBITS`` and one run: one thread. Below aer's own
  ``statevector_parallel_threshold`` it updates the state serially anyway, and its OpenMP
  threads only add work.
- otherwise aer's defaults: every thread on one state at a time, and aer's gate fusion
  (none of the fusion settings tried was faster beyond the noise).
"""

from __future__ import annotations

import os
from typing import Any

SERIAL_BELOW_QUBITS = 14
PARALLEL_EXPERIMENTS_BELOW_QUBITS = 16


def worker_cores() -> int:
    """The cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_options(circuit: Any, runs: int, cores: int | None = None) -> dict[str, Any]:
    """Options for one ``AerSimulator.run`` of ``circuit`` with ``runs`` bindings on
    ``cores`` cores (default: :func:`worker_cores`)."""
    width = circuit.num_qubits
    available = worker_cores() if cores is None else cores
    if runs > 1 and available > 1 and width < PARALLEL_EXPERIMENTS_BELOW_QUBITS:
        parallel = min(available, runs)
        return {"max_parallel_experiments": parallel, "max_parallel_threads": parallel}
    if width < SERIAL_BELOW_QUBITS:
        return {"max_parallel_threads": 1}
    return {}
