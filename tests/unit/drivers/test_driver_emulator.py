from __future__ import annotations

import pytest
from qiskit import QuantumCircuit, transpile

from eigen.drivers.emulator import ManilaEmulator
from eigen.errors import FailedPrecondition, InvalidArgument
from eigen.models.compiled import ExecutionRequest


def compiled_for(emulator: ManilaEmulator, circuit: QuantumCircuit) -> QuantumCircuit:
    """What the compiler does: lower to the device's basis gates and coupling map."""
    info = emulator.info
    assert info.coupling_map is not None
    return transpile(
        circuit,
        basis_gates=list(info.basis_gates),
        coupling_map=[list(edge) for edge in info.coupling_map],
        seed_transpiler=1,
    )


def request(
    circuit: QuantumCircuit,
    shots: int = 4000,
    seed: int | None = None,
    parameter_bindings: list[dict[str, float]] | None = None,
) -> ExecutionRequest:
    return ExecutionRequest("emu:manila", circuit, shots, seed, parameter_bindings or [])


def test_info_comes_from_the_fake_backend(manila: ManilaEmulator) -> None:
    info = manila.info
    assert info.name == "emu:manila"
    assert info.num_qubits == 5
    assert info.noisy and info.simulator
    assert {"cx", "rz", "sx", "x", "measure", "reset"} <= set(info.basis_gates)
    assert not {"if_else", "for_loop", "switch_case", "while_loop", "delay"} & set(info.basis_gates)
    assert info.coupling_map is not None
    assert (0, 1) in info.coupling_map and (1, 0) in info.coupling_map
    assert (0, 2) not in info.coupling_map
    assert info.calibration_id


def test_calibration_id_is_stable(manila: ManilaEmulator) -> None:
    assert ManilaEmulator().info.calibration_id == manila.info.calibration_id


def test_bell_is_mostly_00_11_but_noisy(manila: ManilaEmulator, bell: QuantumCircuit) -> None:
    result = manila.run(request(compiled_for(manila, bell), seed=7))
    counts = result.experiments[0].counts
    assert sum(counts.values()) == 4000
    correlated = counts.get("00", 0) + counts.get("11", 0)
    assert correlated > 0.8 * 4000
    assert correlated < 4000  # noise produces 01/10 too
    assert result.calibration_id == manila.info.calibration_id
    assert result.seed == 7


def test_same_seed_same_noisy_counts(manila: ManilaEmulator, bell: QuantumCircuit) -> None:
    circuit = compiled_for(manila, bell)
    first = manila.run(request(circuit, 500, seed=3)).experiments[0].counts
    assert manila.run(request(circuit, 500, seed=3)).experiments[0].counts == first


def test_gate_outside_the_basis_is_rejected(manila: ManilaEmulator, bell: QuantumCircuit) -> None:
    with pytest.raises(InvalidArgument, match=r"'h' \(instruction 0\).*emu:manila"):
        manila.run(request(bell))


def test_two_qubit_gate_on_uncoupled_qubits_is_rejected(manila: ManilaEmulator) -> None:
    qc = QuantumCircuit(5, 2)
    qc.x(0)
    qc.cx(0, 2)
    qc.measure([0, 2], [0, 1])
    with pytest.raises(InvalidArgument, match=r"'cx' on qubits \[0, 2\] \(instruction 1\)"):
        manila.run(request(qc))


def test_calibration_has_per_qubit_and_per_gate_data(manila: ManilaEmulator) -> None:
    cal = manila.calibration()
    assert cal.device == "emu:manila"
    assert cal.calibration_id == manila.info.calibration_id
    assert cal.taken_at
    assert [q["qubit"] for q in cal.qubits] == [0, 1, 2, 3, 4]
    for qubit in cal.qubits:
        assert qubit["t1_s"] > 0 and qubit["t2_s"] > 0
        assert qubit["frequency_hz"] > 1e9
        assert 0 <= qubit["readout_error"] < 1
    cx = [g for g in cal.gates if g["gate"] == "cx"]
    assert cx and all(g["error"] > 0 and g["duration_s"] > 0 for g in cx)
    assert {tuple(g["qubits"]) for g in cx} == set(manila.info.coupling_map or ())


def test_exact_estimation_is_not_offered(manila: ManilaEmulator, bell: QuantumCircuit) -> None:
    with pytest.raises(FailedPrecondition, match="statevector"):
        manila.estimate(bell, [[("ZZ", 1.0)]], [])
