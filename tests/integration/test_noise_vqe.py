"""A noisy VQE through a real server: ``@hybrid_program(noise_model="depolarizing:0.001")``
runs on sim:statevector with qiskit-aer's noise model, ``spec.metadata.noise_model`` wins
over the decorator, and a noise model Eigen does not know is refused by name. The noise
model also crosses the driver-manager's own gRPC edge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from eigen.client.client import Client
from eigen.config.settings import Settings
from eigen.drivers.statevector import StatevectorDriver
from eigen.errors import InvalidArgument
from eigen.models.compiled import ExecutionRequest
from eigen.models.job import JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.state import JobState
from eigen.server.build import build
from eigen.server.embedded import EmbeddedServer
from eigen.server.grpc_server import start_grpc
from eigen.server.remote import RemoteDrivers

pytestmark = pytest.mark.integration

#: Two qubits, ``IZ + XI``: the minimum -2 is qubit 0 in |1> and qubit 1 in |->.
PROGRAM = '''"""A two-qubit chemistry-style VQE on a noisy simulator."""

from eigen_lang import ExpectationValue, Observable, Param, QubitRegister, cx, hybrid_program, ry
from eigen_lang.optimizers import minimize


@hybrid_program(shots=8192, seed=1234, noise_model="{noise}")
def main():
    theta = Param("theta", 0.1)
    phi = Param("phi", 0.2)
    q = QubitRegister(2)
    ry(0, theta=theta)
    ry(1, theta=phi)
    cx(0, 1)
    energy = ExpectationValue("energy", observable=Observable(Z=0, X=1))
    optimum = minimize(energy, initial_params=[3.0, -1.4], method="COBYLA", max_iters=60)
    return {{"energy": optimum.fun, "parameters": optimum.x}}
'''


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Client:
    return Client(server.address)


def noisy_vqe(noise: str = "depolarizing:0.001", **changes: object) -> JobRequest:
    request = JobRequest(
        name="noisy-vqe",
        program=PROGRAM.format(noise=noise),
        language=ProgramLanguage.EIGEN_LANG,
        target="sim:statevector",
    )
    return request.model_copy(update=changes)


def test_depolarizing_vqe_ends_near_the_exact_minimum(client: Client) -> None:
    job = client.submit(noisy_vqe())
    assert client.wait(job.id).state is JobState.DONE
    result = client.results(job.id)
    summary = result.summary
    assert summary["estimator"] == "shots" and summary["shots_per_basis"] == 8192
    assert summary["energy"] < -1.8, summary
    assert summary["energy"] >= -2 - 4 * summary["std_error"]
    assert summary["returns"]["energy"] == summary["energy"]


def test_the_same_seed_and_noise_give_the_same_run(client: Client) -> None:
    request = noisy_vqe(options={"max_iters": "4"})
    first, second = client.submit(request), client.submit(request)
    assert client.wait(first.id).state is JobState.DONE
    assert client.wait(second.id).state is JobState.DONE
    one, two = client.results(first.id), client.results(second.id)
    assert one.summary["history"] == two.summary["history"]
    assert one.counts == two.counts


def test_the_job_noise_model_wins_over_the_decorator(client: Client) -> None:
    """``readout:0.5`` reads every bit at random: whatever the state, the energy is about 0."""
    job = client.submit(noisy_vqe(options={"noise_model": "readout:0.5", "max_iters": "4"}))
    assert client.wait(job.id).state is JobState.DONE
    summary = client.results(job.id).summary
    assert abs(summary["energy"]) < 10 * summary["std_error"] < 0.5, summary


def test_an_unknown_noise_model_in_the_program_is_refused_at_submission(client: Client) -> None:
    with pytest.raises(InvalidArgument) as caught:
        client.submit(noisy_vqe("thermal_storm:0.1"))
    assert "thermal_storm" in str(caught.value)
    assert "depolarizing" in str(caught.value)  # the known names are listed


def test_an_unknown_noise_model_in_the_job_is_refused_at_submission(client: Client) -> None:
    with pytest.raises(InvalidArgument) as caught:
        client.submit(noisy_vqe(options={"noise_model": "thermal_storm:0.1"}))
    assert "thermal_storm" in str(caught.value)
    assert any("noise_model" in v.field for v in caught.value.violations)


def test_a_noise_model_on_the_stabilizer_is_refused_at_submission(client: Client) -> None:
    with pytest.raises(InvalidArgument, match="sim:stabilizer"):
        client.submit(noisy_vqe(target="sim:stabilizer"))


@pytest.fixture(scope="module")
def driver_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteDrivers]:
    """A driver-manager alone on a free loopback port, and the kernel's client of it."""
    data_dir: Path = tmp_path_factory.mktemp("driver-manager")
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=0, http_port=0)
    stack = build(settings, ["driver-manager"])
    stack.start()
    server, port = start_grpc(stack, settings)
    try:
        yield RemoteDrivers(f"127.0.0.1:{port}")
    finally:
        server.stop(0).wait()
        stack.close()


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def test_the_driver_manager_applies_the_noise_model_it_is_sent(driver_manager: RemoteDrivers) -> None:
    noisy = ExecutionRequest("sim:statevector", bell(), 4000, 21, [], "depolarizing:0.1,readout:0.05")
    remote = driver_manager.execute(noisy).experiments[0].counts
    assert remote == StatevectorDriver().run(noisy).experiments[0].counts  # same seed, same noise
    assert remote.get("01", 0) + remote.get("10", 0) > 100  # a Bell pair alone gives none
    clean = ExecutionRequest("sim:statevector", bell(), 4000, 21)
    assert set(driver_manager.execute(clean).experiments[0].counts) == {"00", "11"}


def test_the_driver_manager_refuses_an_unknown_noise_model_by_name(driver_manager: RemoteDrivers) -> None:
    with pytest.raises(InvalidArgument, match="unknown noise model 'thermal_storm'"):
        driver_manager.execute(ExecutionRequest("sim:statevector", bell(), 10, 1, [], "thermal_storm:0.1"))
