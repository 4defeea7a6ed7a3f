"""What the drivers return besides counts (per-shot memory, probabilities, the state vector)
and the engine they record: on aer, qsim and stim, in Qiskit's bit order."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.random import random_circuit
from qiskit.quantum_info import Statevector

from eigen.drivers.qsim import QsimDriver
from eigen.drivers.stabilizer import StabilizerDriver
from eigen.drivers.statevector import BASIS_GATES, AerStatevectorDriver, StatevectorDriver
from eigen.errors import InvalidArgument
from eigen.models.compiled import ExecutionRequest
from eigen.models.outputs import Output

ALL = (Output.COUNTS, Output.MEMORY, Output.PROBABILITIES, Output.STATEVECTOR)


def asymmetric() -> QuantumCircuit:
    """|q2 q1 q0> = |1>(|0> + i|1>)/sqrt2 |1>, with q1 idle: any bit-order slip shows."""
    circuit = QuantumCircuit(4, 4)
    circuit.x(0)
    circuit.h(2)
    circuit.s(2)
    circuit.x(3)
    circuit.measure(range(4), range(4))
    return circuit


def expected_state(circuit: QuantumCircuit) -> np.ndarray:
    return Statevector(circuit.remove_final_measurements(inplace=False)).data


@pytest.mark.parametrize("device", ["aer", "qsim"])
def test_memory_probabilities_and_statevector_in_qiskit_order(
    device: str, aer: AerStatevectorDriver, qsim: QsimDriver
) -> None:
    driver = aer if device == "aer" else qsim
    circuit = asymmetric()
    result = driver.run(ExecutionRequest(driver.name, circuit, 300, seed=5, outputs=ALL))
    (experiment,) = result.experiments
    assert result.engine == device
    assert len(experiment.memory) == 300
    assert Counter(experiment.memory) == experiment.counts  # the same shots, one by one
    assert set(experiment.counts) == {"1001", "1101"}
    state = expected_state(circuit)
    np.testing.assert_allclose(np.array(experiment.statevector), state, atol=1e-6)
    np.testing.assert_allclose(experiment.probabilities, np.abs(state) ** 2, atol=1e-6)
    assert sum(experiment.probabilities) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("device", ["aer", "qsim"])
def test_a_sweep_returns_each_bindings_state(
    device: str, aer: AerStatevectorDriver, qsim: QsimDriver
) -> None:
    driver = aer if device == "aer" else qsim
    theta = Parameter("theta")
    circuit = QuantumCircuit(1, 1)
    circuit.rx(theta, 0)
    circuit.measure(0, 0)
    bindings = [{"theta": 0.0}, {"theta": np.pi}, {"theta": np.pi / 2}]
    result = driver.run(
        ExecutionRequest(driver.name, circuit, 10, seed=1, parameter_bindings=bindings, outputs=ALL[2:])
    )
    probabilities = [e.probabilities for e in result.experiments]
    np.testing.assert_allclose(probabilities, [[1, 0], [0, 1], [0.5, 0.5]], atol=1e-6)
    assert all(not e.memory for e in result.experiments)  # memory was not asked for


def test_outputs_not_asked_for_are_empty(aer: AerStatevectorDriver) -> None:
    result = aer.run(ExecutionRequest(aer.name, asymmetric(), 50, seed=5))
    (experiment,) = result.experiments
    assert experiment.counts and not experiment.memory
    assert not experiment.probabilities and not experiment.statevector


def test_aer_and_qsim_give_the_same_state_of_a_random_circuit(
    aer: AerStatevectorDriver, qsim: QsimDriver
) -> None:
    circuit = transpile(
        random_circuit(6, 8, max_operands=2, measure=True, seed=4),
        basis_gates=list(BASIS_GATES),
        seed_transpiler=4,
    )
    outputs = (Output.STATEVECTOR,)
    aer_state, qsim_state = (
        np.array(
            d.run(ExecutionRequest(d.name, circuit, 1, seed=1, outputs=outputs)).experiments[0].statevector
        )
        for d in (aer, qsim)
    )
    np.testing.assert_allclose(aer_state, expected_state(circuit), atol=1e-9)  # aer: Qiskit's phase too
    largest = int(np.argmax(np.abs(aer_state)))
    phase = aer_state[largest] / qsim_state[largest]  # qsim: up to a global phase (docstring)
    assert abs(phase) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose(qsim_state * phase, aer_state, atol=1e-5)  # qsim is float32


def test_a_mid_circuit_measurement_has_no_final_state(aer: AerStatevectorDriver) -> None:
    circuit = QuantumCircuit(1, 2)
    circuit.h(0)
    circuit.measure(0, 0)
    circuit.h(0)
    circuit.measure(0, 1)
    with pytest.raises(InvalidArgument, match="without mid-circuit measure"):
        aer.run(ExecutionRequest(aer.name, circuit, 10, seed=1, outputs=(Output.PROBABILITIES,)))


def test_dense_outputs_with_a_noise_model_are_refused(aer: AerStatevectorDriver) -> None:
    with pytest.raises(InvalidArgument, match="noiseless"):
        aer.run(
            ExecutionRequest(
                aer.name,
                asymmetric(),
                10,
                seed=1,
                noise_model="depolarizing:0.01",
                outputs=(Output.STATEVECTOR,),
            )
        )


def test_statevector_records_the_engine_it_chose(statevector: StatevectorDriver) -> None:
    result = statevector.run(ExecutionRequest(statevector.name, asymmetric(), 10, seed=1))
    assert result.engine == "aer"  # 4 qubits: aer by the cost model


def test_stim_memory_matches_its_counts_and_is_seeded(stabilizer: StabilizerDriver) -> None:
    circuit = QuantumCircuit(3, 3)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.x(2)
    circuit.measure(range(3), range(3))
    request = ExecutionRequest(stabilizer.name, circuit, 500, seed=9, outputs=(Output.COUNTS, Output.MEMORY))
    first, second = stabilizer.run(request), stabilizer.run(request)
    (experiment,) = first.experiments
    assert first.engine == "stim"
    assert Counter(experiment.memory) == experiment.counts
    assert set(experiment.counts) == {"100", "111"}
    assert experiment.memory == second.experiments[0].memory


def test_statevector_goes_to_aer_when_its_state_vector_is_asked_for(statevector: StatevectorDriver) -> None:
    wide = transpile(
        random_circuit(19, 10, max_operands=2, measure=True, seed=2),
        basis_gates=list(BASIS_GATES),
        seed_transpiler=2,
    )
    assert statevector.run(ExecutionRequest(statevector.name, wide, 10, seed=1)).engine == "qsim"
    asked = ExecutionRequest(statevector.name, wide, 10, seed=1, outputs=(Output.STATEVECTOR,))
    assert statevector.run(asked).engine == "aer"  # Qiskit's global phase, which qsim drops
