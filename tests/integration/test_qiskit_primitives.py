"""EigenSampler and EigenEstimator (qiskit V2 primitives) against a real embedded Eigen server.

The H2 reference (STO-3G, 0.735 A, two qubits) is /work/shared/reference/h2-sto3g.md.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import real_amplitudes
from qiskit.primitives import BackendEstimatorV2, StatevectorEstimator
from qiskit.quantum_info import SparsePauliOp
from scipy.optimize import minimize

from eigen.client.client import Client
from eigen.client.qiskit import EigenBackend, EigenEstimator, EigenSampler
from eigen.server.embedded import EmbeddedServer
from tests.integration.helpers import bell_circuit

pytestmark = pytest.mark.integration

H2 = SparsePauliOp.from_list(
    [
        ("II", -1.052373245772859),
        ("IZ", 0.39793742484318045),
        ("ZI", -0.39793742484318045),
        ("ZZ", -0.01128010425623538),
        ("XX", 0.18093119978423156),
    ]
)
H2_GROUND = -1.8572750302023795


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.address) as opened:
        yield opened


@pytest.fixture(scope="module")
def ansatz() -> QuantumCircuit:
    return real_amplitudes(2, reps=1)


@pytest.fixture(scope="module")
def optimum(ansatz: QuantumCircuit) -> tuple[np.ndarray, float]:
    """Parameters minimising <H2> found locally (StatevectorEstimator + scipy), and <H2> there."""
    reference = StatevectorEstimator()

    def energy(x: np.ndarray) -> float:
        return float(reference.run([(ansatz, H2, x)]).result()[0].data.evs)

    found = minimize(energy, np.full(ansatz.num_parameters, 0.1), method="BFGS")
    assert found.fun == pytest.approx(H2_GROUND, abs=1e-6)  # the ansatz reaches the ground state
    return np.asarray(found.x), float(found.fun)


# -- sampler -----------------------------------------------------------------------------
def test_sampler_on_bell(client: Client) -> None:
    result = EigenSampler(client, seed=3).run([bell_circuit()], shots=500).result()
    data = result[0].data
    assert data.c.num_shots == 500
    assert data.c.num_bits == 2
    counts = data.c.get_counts()
    assert set(counts) == {"00", "11"}
    assert 150 < counts["00"] < 350
    assert result[0].metadata["shots"] == 500


def test_sampler_sweep_keeps_order_shape_and_registers(client: Client) -> None:
    theta = ParameterVector("θ", 2)  # names qiskit's exporter would escape
    circuit = QuantumCircuit(2)
    circuit.ry(theta[0], 0)
    circuit.ry(theta[1], 1)
    circuit.measure_all()
    values = np.array([[[0.0, 0.0], [np.pi, 0.0], [0.0, np.pi]], [[np.pi, np.pi], [0.0, 0.0], [np.pi, 0.0]]])
    expected = [["00", "01", "10"], ["11", "00", "01"]]
    pub = (circuit, values, 64)
    data = EigenSampler(client, seed=1).run([pub, bell_circuit()]).result()[0].data
    assert data.shape == (2, 3)
    assert data.meas.shape == (2, 3)
    for index in np.ndindex(2, 3):
        assert data.meas[index].get_counts() == {expected[index[0]][index[1]]: 64}


def test_sampler_keeps_shots_aligned_across_registers(client: Client) -> None:
    left, right = ClassicalRegister(1, "left"), ClassicalRegister(1, "right")
    circuit = QuantumCircuit(QuantumRegister(2, "q"), left, right)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure(0, left[0])
    circuit.measure(1, right[0])
    data = EigenSampler(client, seed=9).run([circuit], shots=200).result()[0].data
    assert data.left.get_bitstrings() == data.right.get_bitstrings()  # same shot, same outcome
    assert set(data.left.get_counts()) == {"0", "1"}


# -- estimator ---------------------------------------------------------------------------
def test_estimator_exact_h2_energy(
    client: Client, ansatz: QuantumCircuit, optimum: tuple[np.ndarray, float]
) -> None:
    x, energy = optimum
    estimator = EigenEstimator(client)
    assert estimator.default_precision == 0.0  # a noiseless simulator: exact by default
    result = estimator.run([(ansatz, H2, x)]).result()[0]
    assert float(result.data.evs) == pytest.approx(energy, abs=1e-6)
    assert float(result.data.evs) == pytest.approx(H2_GROUND, abs=1e-6)
    assert float(result.data.stds) == 0.0
    assert result.metadata["target_precision"] == 0.0


def test_estimator_with_shots_h2_energy(
    client: Client, ansatz: QuantumCircuit, optimum: tuple[np.ndarray, float]
) -> None:
    x, energy = optimum
    result = EigenEstimator(client, seed=2024).run([(ansatz, H2, x)], precision=0.005).result()[0]
    assert result.metadata["shots"] == 40_000
    value, error = float(result.data.evs), float(result.data.stds)
    assert 0 < error < 0.005
    assert abs(value - energy) < 4 * error


def test_backend_estimator_v2_on_eigen_backend(
    client: Client, ansatz: QuantumCircuit, optimum: tuple[np.ndarray, float]
) -> None:
    x, energy = optimum
    backend = EigenBackend(client)
    estimator = BackendEstimatorV2(backend=backend, options={"seed_simulator": 17})
    result = estimator.run([(transpile(ansatz, backend), H2, x)]).result()[0]
    value, error = float(result.data.evs), float(result.data.stds)
    assert 0 < error < 0.02
    assert abs(value - energy) < 4 * error


def test_estimator_sweep_returns_values_in_order_and_shape(client: Client, ansatz: QuantumCircuit) -> None:
    rng = np.random.default_rng(5)
    values = rng.uniform(-np.pi, np.pi, size=(5, ansatz.num_parameters))
    expected = StatevectorEstimator().run([(ansatz, H2, values)]).result()[0].data.evs
    result = EigenEstimator(client).run([(ansatz, H2, values)]).result()[0]
    assert result.data.evs.shape == (5,)
    assert result.data.stds.shape == (5,)
    np.testing.assert_allclose(result.data.evs, expected, atol=1e-9)


def test_estimator_broadcasts_observables_against_bindings(client: Client, ansatz: QuantumCircuit) -> None:
    values = np.random.default_rng(6).uniform(-np.pi, np.pi, size=(3, ansatz.num_parameters))
    one_dimensional = (ansatz, [H2, SparsePauliOp("ZZ"), "XI"], values[0])  # (3,) x ()
    zipped = (ansatz, [H2, "ZZ", "IX"], values)  # (3,) x (3,)
    outer = (ansatz, [[H2], ["ZZ"]], values)  # (2, 1) x (3,) -> (2, 3)
    pubs = [one_dimensional, zipped, outer]
    expected = [r.data.evs for r in StatevectorEstimator().run(pubs).result()]
    results = EigenEstimator(client).run(pubs).result()
    for got, want, shape in zip(results, expected, [(3,), (3,), (2, 3)], strict=True):
        assert got.data.evs.shape == shape
        np.testing.assert_allclose(got.data.evs, want, atol=1e-9)


def test_estimator_without_parameters_and_several_pubs(client: Client) -> None:
    circuit = bell_circuit().remove_final_measurements(inplace=False)
    theta = Parameter("t")
    rotated = QuantumCircuit(1)
    rotated.rx(theta, 0)
    results = EigenEstimator(client).run([(circuit, ["ZZ", "XX", "ZI"]), (rotated, "Z", [np.pi])]).result()
    np.testing.assert_allclose(results[0].data.evs, [1.0, 1.0, 0.0], atol=1e-9)
    assert float(results[1].data.evs) == pytest.approx(-1.0, abs=1e-9)


def test_exact_estimation_needs_a_noiseless_simulator(client: Client) -> None:
    estimator = EigenEstimator(client, "emu:manila")
    assert estimator.default_precision > 0
    with pytest.raises(ValueError, match="noiseless simulator"):
        estimator.run([(bell_circuit().remove_final_measurements(inplace=False), "ZZ")], precision=0.0)
