"""sim:qsim, sim:aer, sim:statevector's engine choice, and sim:statevector-gpu's presence."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter
from qiskit.circuit.random import random_circuit
from scipy.stats import chi2_contingency

from eigen.drivers.engine_choice import AER, QSIM, EngineCost, choose_engine
from eigen.drivers.qsim import QsimDriver
from eigen.drivers.registry import DriverRegistry
from eigen.drivers.statevector import BASIS_GATES, AerStatevectorDriver, StatevectorDriver
from eigen.drivers.statevector_gpu import StatevectorGpuDriver, gpu_unavailable
from eigen.errors import InvalidArgument, NotFound
from eigen.models.compiled import ExecutionRequest

#: A model under which qsim always wins (to test the qsim path on small circuits).
FREE = EngineCost(0.0, 0.0, 0.0)
DEAR = EngineCost(1.0, 1.0, 1.0)


def request(
    device: str, circuit: QuantumCircuit, shots: int = 4000, seed: int | None = 7, **kw: object
) -> ExecutionRequest:
    return ExecutionRequest(device, circuit, shots, seed, **kw)  # type: ignore[arg-type]


def random_measured(width: int, seed: int) -> QuantumCircuit:
    qc = random_circuit(width, 6, max_operands=2, measure=True, seed=seed)
    return transpile(qc, basis_gates=list(BASIS_GATES), optimization_level=0, seed_transpiler=seed)


def test_both_engines_agree_statistically(qsim: QsimDriver, aer: AerStatevectorDriver) -> None:
    circuit = random_measured(5, seed=3)
    shots = 20_000
    on_qsim = qsim.run(request("sim:qsim", circuit, shots)).experiments[0].counts
    on_aer = aer.run(request("sim:aer", circuit, shots)).experiments[0].counts
    keys = sorted(set(on_qsim) | set(on_aer))
    # outcomes seen fewer than 5 times in all are pooled, as chi-square needs
    frequent = [k for k in keys if on_qsim.get(k, 0) + on_aer.get(k, 0) >= 10]
    rare = [k for k in keys if k not in frequent]
    table = [[on_qsim.get(k, 0) for k in frequent], [on_aer.get(k, 0) for k in frequent]]
    if rare:
        table[0].append(sum(on_qsim.get(k, 0) for k in rare))
        table[1].append(sum(on_aer.get(k, 0) for k in rare))
    assert len(table[0]) >= 4  # a real distribution, not a single outcome
    _, p_value, _, _ = chi2_contingency(table)
    assert p_value > 1e-3


def test_counts_keep_qiskit_bit_order_across_registers(qsim: QsimDriver) -> None:
    q = QuantumRegister(3, "q")
    low, high = ClassicalRegister(2, "low"), ClassicalRegister(2, "high")
    qc = QuantumCircuit(q, low, high)
    qc.x(0)  # qubit 0 -> low[0] (clbit 0): the rightmost character
    qc.x(2)  # qubit 2 -> high[1] (clbit 3): the leftmost
    qc.measure(0, low[0])
    qc.measure(1, low[1])
    qc.measure(2, high[1])  # high[0] is never written: it reads 0
    counts = qsim.run(request("sim:qsim", qc, 100)).experiments[0].counts
    assert counts == {"1001": 100}


def test_a_seed_reproduces_counts_per_engine(qsim: QsimDriver) -> None:
    circuit = random_measured(6, seed=5)
    first = qsim.run(request("sim:qsim", circuit, 500, seed=42))
    again = qsim.run(request("sim:qsim", circuit, 500, seed=42))
    other = qsim.run(request("sim:qsim", circuit, 500, seed=43))
    assert first.experiments[0].counts == again.experiments[0].counts
    assert first.experiments[0].counts != other.experiments[0].counts
    assert first.seed == 42
    drawn = qsim.run(request("sim:qsim", circuit, 500, seed=None))
    assert drawn.seed is not None
    replayed = qsim.run(request("sim:qsim", circuit, 500, seed=drawn.seed))
    assert replayed.experiments[0].counts == drawn.experiments[0].counts


def test_a_circuit_with_barriers_runs_on_qsim(qsim: QsimDriver) -> None:
    """Barriers are dropped before the QASM round trip (cirq's importer has no barrier)."""
    circuit = QuantumCircuit(2, 2)
    circuit.x(0)
    circuit.barrier()
    circuit.measure([0, 1], [0, 1])
    result = qsim.run(request("sim:qsim", circuit, 100))
    assert result.experiments[0].counts == {"01": 100}


def test_bindings_run_one_experiment_each(qsim: QsimDriver) -> None:
    theta = Parameter("theta")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    result = qsim.run(request("sim:qsim", qc, 200, parameter_bindings=[{"theta": 0.0}, {"theta": math.pi}]))
    assert [e.counts for e in result.experiments] == [{"0": 200}, {"1": 200}]
    assert result.experiments[1].bindings == {"theta": math.pi}


def test_the_result_names_the_engine(
    qsim: QsimDriver, aer: AerStatevectorDriver, bell: QuantumCircuit
) -> None:
    on_qsim = qsim.run(request("sim:qsim", bell))
    assert on_qsim.backend == "sim:qsim"
    assert on_qsim.timings["qsim_s"] > 0 and "aer_s" not in on_qsim.timings
    on_aer = aer.run(request("sim:aer", bell))
    assert on_aer.backend == "sim:aer" and "aer_s" in on_aer.timings and "qsim_s" not in on_aer.timings


def mid_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.cx(0, 1)  # after the measurement of qubit 0
    qc.measure(1, 1)
    return qc


def with_reset() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.reset(0)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.mark.parametrize(
    ("build", "reason"),
    [(mid_circuit, "mid-circuit"), (with_reset, "reset")],
)
def test_what_qsim_lacks_goes_to_aer(build: object, reason: str, statevector: StatevectorDriver) -> None:
    circuit = build()  # type: ignore[operator]
    choice = choose_engine(circuit, qsim_cost=FREE, aer_cost=DEAR)
    assert choice.engine == AER and reason in choice.reason
    # the auto device runs it (on aer), the explicit qsim device refuses it, naming why
    result = statevector.run(request("sim:statevector", circuit, 300))
    assert "aer_s" in result.timings
    with pytest.raises(InvalidArgument, match=reason):
        QsimDriver().run(request("sim:qsim", circuit, 300))


def test_reset_runs_correctly_on_the_auto_device(statevector: StatevectorDriver) -> None:
    assert statevector.run(request("sim:statevector", with_reset(), 300)).experiments[0].counts == {"00": 300}


def test_noise_goes_to_aer(bell: QuantumCircuit) -> None:
    assert choose_engine(bell, noisy=True, qsim_cost=FREE, aer_cost=DEAR).engine == AER


def test_the_cost_model_sends_small_circuits_to_aer_and_wide_ones_to_qsim() -> None:
    small = random_measured(4, seed=1)
    assert choose_engine(small).engine == AER
    wide = QuantumCircuit(24, 24)
    for layer in range(20):
        for q in range(24):
            wide.rx(0.1 * (layer + 1), q)
        for q in range(layer % 2, 23, 2):
            wide.cx(q, q + 1)
    wide.measure(range(24), range(24))
    chosen = choose_engine(wide)
    assert chosen.engine == QSIM
    assert chosen.qsim_s is not None and chosen.aer_s is not None and chosen.qsim_s < chosen.aer_s
    # a sweep of many bindings pays qsim's conversion per binding, aer's set-up once
    assert choose_engine(small, runs=1000).engine == AER


def test_the_auto_device_runs_qsim_where_the_model_says(bell: QuantumCircuit) -> None:
    driver = StatevectorDriver()
    req = request("sim:statevector", bell)
    via_model = choose_engine(bell)
    result = driver.run(req)
    assert (via_model.engine == QSIM) == ("qsim_s" in result.timings)
    assert set(result.experiments[0].counts) == {"00", "11"}


def test_gpu_device_is_absent_without_a_gpu(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert gpu_unavailable(tmp_path) == f"no CUDA device ({tmp_path}/nvidia* absent)"
    reason = gpu_unavailable()
    if reason is None:
        pytest.skip("a CUDA GPU and a CUDA build of qsimcirq are present")
    registry = DriverRegistry()
    with caplog.at_level(logging.INFO, logger="eigen.drivers.registry"):
        names = [info.name for info in registry.list_devices()]
    assert "sim:statevector-gpu" not in names
    assert {"sim:statevector", "sim:qsim", "sim:aer"} <= set(names)
    lines = [r for r in caplog.records if getattr(r, "device", None) == "sim:statevector-gpu"]
    assert len(lines) == 1 and lines[0].reason == reason  # type: ignore[attr-defined]
    with pytest.raises(NotFound, match="not available here"):
        registry.driver("sim:statevector-gpu")


@pytest.mark.skipif(gpu_unavailable() is not None, reason=f"no GPU engine: {gpu_unavailable()}")
def test_gpu_device_agrees_with_aer(aer: AerStatevectorDriver) -> None:
    gpu = StatevectorGpuDriver()
    circuit = random_measured(5, seed=9)
    shots = 20_000
    on_gpu = gpu.run(request("sim:statevector-gpu", circuit, shots)).experiments[0].counts
    on_aer = aer.run(request("sim:aer", circuit, shots)).experiments[0].counts
    keys = [k for k in sorted(set(on_gpu) | set(on_aer)) if on_gpu.get(k, 0) + on_aer.get(k, 0) >= 10]
    _, p_value, _, _ = chi2_contingency([[on_gpu.get(k, 0) for k in keys], [on_aer.get(k, 0) for k in keys]])
    assert p_value > 1e-3
