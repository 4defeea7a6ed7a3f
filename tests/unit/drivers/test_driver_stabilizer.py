from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter

from eigen.drivers import stabilizer as stabilizer_module
from eigen.drivers.stabilizer import StabilizerDriver
from eigen.drivers.statevector import StatevectorDriver
from eigen.errors import InvalidArgument
from eigen.models.compiled import ExecutionRequest


def request(
    circuit: QuantumCircuit,
    shots: int = 1000,
    seed: int | None = None,
    parameter_bindings: list[dict[str, float]] | None = None,
) -> ExecutionRequest:
    return ExecutionRequest("sim:stabilizer", circuit, shots, seed, parameter_bindings or [])


def counts_of(
    driver: StabilizerDriver, circuit: QuantumCircuit, shots: int = 1000, seed: int | None = None
) -> dict[str, int]:
    return driver.run(request(circuit, shots, seed)).experiments[0].counts


def test_info(stabilizer: StabilizerDriver) -> None:
    info = stabilizer.info
    assert info.name == "sim:stabilizer"
    assert info.clifford_only
    assert info.num_qubits == 10_000
    assert {"h", "s", "cx", "measure"} <= set(info.basis_gates)
    assert not {"t", "tdg", "ccx"} & set(info.basis_gates)


def test_bell_gives_only_00_and_11(stabilizer: StabilizerDriver, bell: QuantumCircuit) -> None:
    result = stabilizer.run(request(bell, seed=5))
    counts = result.experiments[0].counts
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 1000
    assert result.seed == 5


def test_bit_zero_is_rightmost(stabilizer: StabilizerDriver, x_on_0: QuantumCircuit) -> None:
    assert counts_of(stabilizer, x_on_0, seed=1) == {"01": 1000}


def test_same_seed_same_counts(stabilizer: StabilizerDriver, bell: QuantumCircuit) -> None:
    first = counts_of(stabilizer, bell, seed=9)
    assert counts_of(stabilizer, bell, seed=9) == first
    assert any(counts_of(stabilizer, bell, seed=s) != first for s in range(10, 15))


def test_drawn_seed_is_reported_and_reproduces(stabilizer: StabilizerDriver, bell: QuantumCircuit) -> None:
    result = stabilizer.run(request(bell))
    assert isinstance(result.seed, int)
    assert counts_of(stabilizer, bell, seed=result.seed) == result.experiments[0].counts


def test_t_gate_is_rejected_with_a_clear_message(stabilizer: StabilizerDriver) -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.s(1)
    qc.t(0)
    qc.measure([0, 1], [0, 1])
    with pytest.raises(InvalidArgument) as err:
        stabilizer.run(request(qc))
    assert str(err.value) == (
        "circuit is not Clifford: gate 't' (instruction 3) cannot run on sim:stabilizer"
    )
    assert err.value.violations[0].field == "circuit"


def test_non_clifford_rotation_names_gate_and_angle(stabilizer: StabilizerDriver) -> None:
    qc = QuantumCircuit(1, 1)
    qc.rz(0.3, 0)
    qc.measure(0, 0)
    with pytest.raises(InvalidArgument, match=r"gate 'rz' with angle\(s\) 0.3 \(instruction 0\)"):
        stabilizer.run(request(qc))


def test_clifford_angles_map_to_clifford_gates(stabilizer: StabilizerDriver) -> None:
    qc = QuantumCircuit(4, 4)
    qc.rx(math.pi, 0)  # X
    qc.ry(-math.pi, 1)  # Y (up to phase)
    qc.h(2)
    qc.rz(math.pi / 2, 2)  # S: |+> -> |+i>
    qc.rx(math.pi / 2, 2)  # SQRT_X: |+i> -> |0> up to phase
    qc.u(math.pi, 0, math.pi, 3)  # X
    qc.p(math.pi, 3)  # Z: no effect on |1> outcomes
    qc.measure(range(4), range(4))
    assert counts_of(stabilizer, qc, seed=1) == {"1011": 1000}


def test_agrees_with_aer_on_ghz3_support(
    stabilizer: StabilizerDriver,
    statevector: StatevectorDriver,
    ghz: Callable[[int], QuantumCircuit],
) -> None:
    qc = ghz(3)
    stim_counts = counts_of(stabilizer, qc, seed=2)
    aer_counts = statevector.run(ExecutionRequest("sim:statevector", qc, 1000, seed=2))
    assert set(stim_counts) == set(aer_counts.experiments[0].counts) == {"000", "111"}


def test_measurement_records_go_to_their_clbits(stabilizer: StabilizerDriver) -> None:
    qc = QuantumCircuit(3, 4)
    qc.x(0)
    qc.measure(0, 2)  # qubit 0 (=1) -> clbit 2
    qc.measure(1, 0)  # qubit 1 (=0) -> clbit 0
    qc.measure(0, 1)  # clbit 1 = 1 first ...
    qc.x(0)
    qc.measure(0, 1)  # ... then overwritten with 0
    # clbit 3 is never written: stays 0
    assert counts_of(stabilizer, qc, seed=1) == {"0100": 1000}


def test_many_qubits(stabilizer: StabilizerDriver, ghz: Callable[[int], QuantumCircuit]) -> None:
    counts = counts_of(stabilizer, ghz(500), shots=200, seed=4)
    assert set(counts) == {"0" * 500, "1" * 500}


def test_sweep_with_clifford_angles(stabilizer: StabilizerDriver) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    bindings = [{"theta": 0.0}, {"theta": math.pi}, {"theta": 2 * math.pi}]
    result = stabilizer.run(request(qc, 100, seed=1, parameter_bindings=bindings))
    assert [e.counts for e in result.experiments] == [{"0": 100}, {"1": 100}, {"0": 100}]
    assert [e.bindings for e in result.experiments] == bindings


def test_non_clifford_binding_is_rejected(stabilizer: StabilizerDriver) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    with pytest.raises(InvalidArgument, match="'ry'"):
        stabilizer.run(request(qc, parameter_bindings=[{"theta": 0.5}]))


def test_missing_parameter_is_named(stabilizer: StabilizerDriver) -> None:
    qc = QuantumCircuit(1, 1)
    qc.rz(Parameter("phi"), 0)
    qc.measure(0, 0)
    with pytest.raises(InvalidArgument, match="'phi'"):
        stabilizer.run(request(qc, parameter_bindings=[{}]))


def test_compiled_for_its_basis_runs(stabilizer: StabilizerDriver) -> None:
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.ecr(0, 1)
    qc.rz(math.pi / 2, 2)
    qc.barrier()
    qc.measure(range(3), range(3))
    compiled = transpile(qc, basis_gates=list(stabilizer.info.basis_gates), seed_transpiler=1)
    result = stabilizer.run(request(compiled, seed=1))
    assert sum(result.experiments[0].counts.values()) == 1000


def test_estimate_bell(stabilizer: StabilizerDriver, bell: QuantumCircuit) -> None:
    [values] = stabilizer.estimate(bell, [[("ZZ", 1.0)], [("XX", 1.0)], [("ZI", 1.0)]], [])
    assert values == [1.0, 1.0, 0.0]


def test_sampling_in_chunks_keeps_every_shot(
    stabilizer: StabilizerDriver,
    ghz: Callable[[int], QuantumCircuit],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stabilizer_module, "SAMPLE_CHUNK_BITS", 3 * 64)  # 64 shots a chunk
    counts = counts_of(stabilizer, ghz(3), shots=1000, seed=8)
    assert sum(counts.values()) == 1000
    assert set(counts) == {"000", "111"}
