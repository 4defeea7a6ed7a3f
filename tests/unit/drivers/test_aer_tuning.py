"""aer's run options per width and runs (drivers/aer_tuning.py), and that the tuned sweep
gives a serial run's counts for a seed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit_aer import AerSimulator

from eigen.drivers import aer_driver, aer_tuning
from eigen.drivers.aer_tuning import run_options, worker_cores
from eigen.drivers.statevector import AerStatevectorDriver
from eigen.models.compiled import ExecutionRequest

SERIAL = {"max_parallel_threads": 1}


def ansatz(width: int, layers: int = 3) -> QuantumCircuit:
    circuit = QuantumCircuit(width, width)
    count = 0
    for _ in range(layers):
        for qubit in range(width):
            circuit.ry(Parameter(f"t{count}"), qubit)
            circuit.rz(Parameter(f"t{count + 1}"), qubit)
            count += 2
        for qubit in range(width - 1):
            circuit.cx(qubit, qubit + 1)
    circuit.measure(range(width), range(width))
    return circuit


def bindings(circuit: QuantumCircuit, runs: int) -> list[dict[str, float]]:
    names = [p.name for p in circuit.parameters]
    values = np.random.default_rng(3).uniform(0.0, 2 * np.pi, (runs, len(names)))
    return [dict(zip(names, row.tolist(), strict=True)) for row in values]


@pytest.mark.parametrize(
    ("width", "runs", "cores", "expected"),
    [
        (2, 1, 2, SERIAL),
        (12, 1, 16, SERIAL),
        (10, 200, 2, {"max_parallel_experiments": 2, "max_parallel_threads": 2}),
        (4, 1000, 16, {"max_parallel_experiments": 16, "max_parallel_threads": 16}),
        (15, 100, 4, {"max_parallel_experiments": 4, "max_parallel_threads": 4}),
        (8, 3, 16, {"max_parallel_experiments": 3, "max_parallel_threads": 3}),
        (10, 200, 1, SERIAL),
        (14, 1, 2, {}),
        (16, 100, 2, {}),
        (22, 1, 2, {}),
    ],
)
def test_rule_by_width_runs_and_cores(width: int, runs: int, cores: int, expected: dict[str, Any]) -> None:
    assert run_options(QuantumCircuit(width), runs, cores) == expected


def test_cores_default_to_the_process_affinity() -> None:
    assert worker_cores() >= 1
    sweep = run_options(QuantumCircuit(10), 200)
    if worker_cores() > 1:
        assert sweep["max_parallel_experiments"] == min(worker_cores(), 200)
    else:
        assert sweep == SERIAL


def test_tuned_options_run_experiments_in_parallel() -> None:
    circuit = ansatz(10)
    table = {p: [b[p.name] for b in bindings(circuit, 20)] for p in circuit.parameters}
    result = (
        AerSimulator(method="statevector")
        .run(
            circuit, shots=16, seed_simulator=1, parameter_binds=[table], **run_options(circuit, 20, cores=2)
        )
        .result()
    )
    assert result.metadata["parallel_experiments"] == 2
    assert all(r.metadata["parallel_state_update"] == 1 for r in result.results)


def test_sweep_counts_for_a_seed_match_a_serial_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """200 bindings of a 10-qubit circuit through sim:aer: tuned (experiments over 2 cores)
    and serial give the same counts per experiment for the same seed."""
    driver = AerStatevectorDriver()
    circuit = ansatz(10)
    request = ExecutionRequest("sim:aer", circuit, 256, 1234, bindings(circuit, 200))
    monkeypatch.setattr(aer_tuning, "worker_cores", lambda: 2)
    assert run_options(circuit, 200)["max_parallel_experiments"] == 2
    tuned = driver.run(request)
    monkeypatch.setattr(aer_driver, "run_options", lambda circuit, runs: dict(SERIAL))
    serial = driver.run(request)
    assert len(tuned.experiments) == 200
    assert [e.counts for e in tuned.experiments] == [e.counts for e in serial.experiments]
    assert len({tuple(sorted(e.counts.items())) for e in tuned.experiments}) > 1  # bindings differ
