from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Gate, Parameter

from eigen.drivers.aer_tuning import SERIAL_BELOW_QUBITS
from eigen.drivers.statevector import StatevectorDriver
from eigen.errors import InvalidArgument
from eigen.models.compiled import ExecutionRequest


def request(
    circuit: QuantumCircuit,
    shots: int = 1000,
    seed: int | None = None,
    parameter_bindings: list[dict[str, float]] | None = None,
) -> ExecutionRequest:
    return ExecutionRequest("sim:statevector", circuit, shots, seed, parameter_bindings or [])


def test_info_describes_a_wide_all_to_all_simulator(statevector: StatevectorDriver) -> None:
    info = statevector.info
    assert info.name == "sim:statevector"
    assert "sim:local" in info.aliases
    assert info.num_qubits == 28
    assert info.coupling_map is None
    assert not info.noisy
    assert {"h", "cx", "rz", "measure", "reset"} <= set(info.basis_gates)
    assert "barrier" not in info.basis_gates  # qiskit transpile refuses it as a basis gate


def test_every_basis_gate_runs_on_aer(statevector: StatevectorDriver) -> None:
    assert set(statevector.info.basis_gates) <= statevector.accepted_operations()


def test_compiling_to_the_basis_keeps_the_circuit_runnable(
    statevector: StatevectorDriver, ghz: Callable[[int], QuantumCircuit]
) -> None:
    qc = ghz(3)
    qc.ch(0, 1)  # not in the basis: the transpiler must lower it
    qc.barrier()  # a directive: kept by the transpiler, run by aer
    compiled = transpile(qc, basis_gates=list(statevector.info.basis_gates), seed_transpiler=1)
    result = statevector.run(request(compiled, seed=1))
    assert sum(result.experiments[0].counts.values()) == 1000


def test_bell_gives_only_00_and_11(statevector: StatevectorDriver, bell: QuantumCircuit) -> None:
    result = statevector.run(request(bell, seed=11))
    counts = result.experiments[0].counts
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 1000
    assert result.backend == "sim:statevector"
    assert result.seed == 11
    assert result.timings["execute_s"] > 0


def test_bit_zero_is_rightmost(statevector: StatevectorDriver, x_on_0: QuantumCircuit) -> None:
    assert statevector.run(request(x_on_0, seed=1)).experiments[0].counts == {"01": 1000}


def test_counts_have_no_register_spaces(statevector: StatevectorDriver) -> None:
    q = QuantumRegister(3)
    a, b = ClassicalRegister(1, "a"), ClassicalRegister(2, "b")
    qc = QuantumCircuit(q, a, b)
    qc.x([0, 2])
    qc.measure(0, a[0])
    qc.measure(1, b[0])
    qc.measure(2, b[1])
    assert statevector.run(request(qc, 10, seed=1)).experiments[0].counts == {"101": 10}


def test_same_seed_same_counts_different_seeds_differ(
    statevector: StatevectorDriver, bell: QuantumCircuit
) -> None:
    first = statevector.run(request(bell, seed=42)).experiments[0].counts
    again = statevector.run(request(bell, seed=42)).experiments[0].counts
    assert first == again
    others = [statevector.run(request(bell, seed=s)).experiments[0].counts for s in range(1, 6)]
    assert any(c != first for c in others)


def test_drawn_seed_is_reported_and_reproduces(statevector: StatevectorDriver, bell: QuantumCircuit) -> None:
    result = statevector.run(request(bell, seed=None))
    assert isinstance(result.seed, int)
    replay = statevector.run(request(bell, seed=result.seed))
    assert replay.experiments[0].counts == result.experiments[0].counts


def test_sweep_returns_one_experiment_per_binding_in_order(
    statevector: StatevectorDriver,
) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    bindings = [{"theta": 0.0}, {"theta": math.pi}, {"theta": 0.0}]
    result = statevector.run(request(qc, 200, seed=3, parameter_bindings=bindings))
    assert [e.counts for e in result.experiments] == [{"0": 200}, {"1": 200}, {"0": 200}]
    assert [e.bindings for e in result.experiments] == bindings


def test_parameter_expressions_are_bound(statevector: StatevectorDriver) -> None:
    a = Parameter("a")
    qc = QuantumCircuit(1, 1)
    qc.rx(2 * a, 0)
    qc.measure(0, 0)
    result = statevector.run(request(qc, 50, seed=1, parameter_bindings=[{"a": math.pi / 2}]))
    assert result.experiments[0].counts == {"1": 50}


def test_missing_parameter_is_named(statevector: StatevectorDriver) -> None:
    a, b = Parameter("alpha"), Parameter("beta")
    qc = QuantumCircuit(1, 1)
    qc.rx(a, 0)
    qc.rz(b, 0)
    qc.measure(0, 0)
    with pytest.raises(InvalidArgument, match="beta") as err:
        statevector.run(request(qc, parameter_bindings=[{"alpha": 1.0}]))
    assert "'alpha'" not in str(err.value)
    assert err.value.violations[0].field == "parameter_bindings[0]"


def test_unknown_parameter_is_named(statevector: StatevectorDriver, bell: QuantumCircuit) -> None:
    with pytest.raises(InvalidArgument, match="gamma"):
        statevector.run(request(bell, parameter_bindings=[{"gamma": 1.0}]))


def test_unbound_parameters_without_bindings_are_rejected(
    statevector: StatevectorDriver,
) -> None:
    qc = QuantumCircuit(1, 1)
    qc.ry(Parameter("theta"), 0)
    qc.measure(0, 0)
    with pytest.raises(InvalidArgument, match="theta"):
        statevector.run(request(qc))


def test_gate_aer_cannot_run_is_named_with_its_position(
    statevector: StatevectorDriver,
) -> None:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.append(Gate("mystery", 1, []), [1])
    qc.measure([0, 1], [0, 1])
    with pytest.raises(InvalidArgument, match=r"'mystery' \(instruction 1\)"):
        statevector.run(request(qc))


@pytest.mark.parametrize("shots", [0, -5, 2_000_000])
def test_shots_out_of_range_are_rejected(
    statevector: StatevectorDriver, bell: QuantumCircuit, shots: int
) -> None:
    with pytest.raises(InvalidArgument, match="shots"):
        statevector.run(request(bell, shots))


def test_negative_seed_is_rejected(statevector: StatevectorDriver, bell: QuantumCircuit) -> None:
    with pytest.raises(InvalidArgument, match="seed"):
        statevector.run(request(bell, seed=-1))


def test_too_wide_circuit_is_rejected(statevector: StatevectorDriver) -> None:
    qc = QuantumCircuit(29, 1)
    qc.measure(0, 0)
    with pytest.raises(InvalidArgument, match="29 qubits"):
        statevector.run(request(qc))


def test_estimate_bell(statevector: StatevectorDriver, bell: QuantumCircuit) -> None:
    observables = [[("ZZ", 1.0)], [("XX", 1.0)], [("ZI", 1.0)], [("YY", 2.0), ("IZ", 0.5)]]
    [values] = statevector.estimate(bell, observables, [])
    assert values == pytest.approx([1.0, 1.0, 0.0, -2.0], abs=1e-9)


def test_estimate_label_order_is_qiskit_order(statevector: StatevectorDriver) -> None:
    qc = QuantumCircuit(2)
    qc.x(0)  # qubit 0 is |1>: <Z> on qubit 0 is -1; "IZ" acts on qubit 0
    [values] = statevector.estimate(qc, [[("IZ", 1.0)], [("ZI", 1.0)]], [])
    assert values == pytest.approx([-1.0, 1.0])


def test_estimate_sweeps_bindings(statevector: StatevectorDriver) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    angles = [0.0, math.pi / 3, math.pi]
    values = statevector.estimate(qc, [[("Z", 1.0)]], [{"theta": t} for t in angles])
    assert [v[0] for v in values] == pytest.approx([math.cos(t) for t in angles], abs=1e-9)


def test_estimate_rejects_a_label_of_the_wrong_width(
    statevector: StatevectorDriver, bell: QuantumCircuit
) -> None:
    with pytest.raises(InvalidArgument, match=r"observables\[0\]"):
        statevector.estimate(bell, [[("ZZZ", 1.0)]], [])


def test_estimate_rejects_mid_circuit_measurement(statevector: StatevectorDriver) -> None:
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.h(0)
    with pytest.raises(InvalidArgument, match="mid-circuit"):
        statevector.estimate(qc, [[("Z", 1.0)]], [])


def test_narrow_circuits_run_on_one_thread(
    statevector: StatevectorDriver, ghz: Callable[[int], QuantumCircuit], monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator = statevector.simulator()
    options: list[dict[str, object]] = []
    run = simulator.run
    monkeypatch.setattr(simulator, "run", lambda circuits, **kw: options.append(kw) or run(circuits, **kw))
    narrow = statevector.run(request(ghz(SERIAL_BELOW_QUBITS - 1), shots=10, seed=3))
    wide = statevector.run(request(ghz(SERIAL_BELOW_QUBITS), shots=10, seed=3))
    assert options[0]["max_parallel_threads"] == 1  # aer's threads only cost CPU here
    assert "max_parallel_threads" not in options[1]  # aer parallelises the state updates
    assert sum(narrow.experiments[0].counts.values()) == sum(wide.experiments[0].counts.values()) == 10
