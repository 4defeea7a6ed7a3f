"""EigenBackend (qiskit BackendV2) against a real embedded Eigen server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile
from qiskit.circuit import Parameter
from qiskit.primitives import BackendSamplerV2
from qiskit.providers import JobStatus

from eigen.client.client import Client
from eigen.client.qiskit import EigenBackend, EigenJob, EigenJobFailed
from eigen.models.state import JobState
from eigen.server.embedded import EmbeddedServer
from tests.integration.held import HELD, holding

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.address) as opened:
        yield opened


@pytest.fixture(scope="module")
def backend(client: Client) -> EigenBackend:
    return EigenBackend(client)


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2, name="bell")
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def test_target_mirrors_get_backend(backend: EigenBackend, client: Client) -> None:
    device = client.backend("sim:statevector")
    target = backend.target
    assert backend.name == "sim:statevector"
    assert target.num_qubits == device.num_qubits
    assert {"cx", "rz", "u", "measure"} <= set(target.operation_names)
    assert set(target.operation_names) <= set(device.basis_gates) | {"measure"}
    assert target.operation_from_name("rx").params[0].name  # a Parameter placeholder
    assert target.build_coupling_map() is None  # all-to-all: global instructions
    assert backend.max_circuits == device.max_circuits


def test_target_of_a_device_with_a_coupling_map(client: Client) -> None:
    manila = EigenBackend(client, "emu:manila")
    device = client.backend("emu:manila")
    assert device.coupling_map is not None
    coupling = manila.target.build_coupling_map()
    assert coupling is not None
    assert set(coupling.get_edges()) == set(device.coupling_map)
    ghz = QuantumCircuit(3)
    ghz.h(0)
    ghz.cx(0, 1)
    ghz.cx(0, 2)
    ghz.measure_all()
    isa = transpile(ghz, manila, seed_transpiler=7)
    assert set(isa.count_ops()) <= set(device.basis_gates) | {"barrier"}
    for instruction in isa.data:
        if instruction.operation.num_qubits == 2:
            edge = tuple(isa.find_bit(q).index for q in instruction.qubits)
            assert edge in device.coupling_map


def test_transpile_and_run_bell(backend: EigenBackend) -> None:
    circuit = transpile(bell(), backend, seed_transpiler=1)
    assert circuit.num_qubits == 2  # no layout onto the device's 28 qubits
    job = backend.run(circuit, shots=400, seed_simulator=11)
    assert isinstance(job, EigenJob)
    result = job.result()
    counts = result.get_counts()
    assert set(counts) == {"00", "11"}
    assert sum(counts.values()) == 400
    assert result.get_counts(circuit) == counts
    assert job.status() is JobStatus.DONE
    assert result.results[0].shots == 400


def test_several_circuits_and_registers(backend: EigenBackend) -> None:
    registers = QuantumCircuit(QuantumRegister(3, "q"), ClassicalRegister(2, "a"), ClassicalRegister(1, "b"))
    registers.x(0)
    registers.x(2)
    registers.measure([0, 1, 2], [0, 1, 2])
    job = backend.run([bell(), registers], shots=50, seed_simulator=5, memory=True)
    assert len(job.eigen_job_ids) == 2
    result = job.result(timeout=60)
    assert set(result.get_counts(0)) <= {"00", "11"}
    assert result.get_counts(1) == {"1 01": 50}  # qiskit's register formatting
    memory = result.get_memory(1)
    assert memory == ["1 01"] * 50


def test_unbound_parameters_are_refused(backend: EigenBackend) -> None:
    circuit = QuantumCircuit(1, 1)
    circuit.ry(Parameter("theta"), 0)
    circuit.measure(0, 0)
    with pytest.raises(ValueError, match="unbound parameters"):
        backend.run(circuit)
    bound = circuit.assign_parameters([3.141592653589793])
    assert backend.run(bound, shots=20).result().get_counts() == {"1": 20}


def test_backend_sampler_v2_runs_unchanged(backend: EigenBackend) -> None:
    sampler = BackendSamplerV2(backend=backend, options={"seed_simulator": 3, "default_shots": 300})
    data = sampler.run([transpile(bell(), backend)]).result()[0].data
    counts = data.c.get_counts()
    assert set(counts) == {"00", "11"}
    assert data.c.num_shots == 300


def test_backend_from_endpoint_string(server: EmbeddedServer) -> None:
    backend = EigenBackend(server.address, "sim:stabilizer")
    try:
        assert backend.name == "sim:stabilizer"
        counts = backend.run(transpile(bell(), backend), shots=100).result().get_counts()
        assert set(counts) == {"00", "11"}
    finally:
        backend.close()


def test_cancelled_job_raises_on_result(server: EmbeddedServer, client: Client) -> None:
    # A job held RUNNING on the test:held device: the cancel always comes before its end.
    with holding(server) as held:
        backend = EigenBackend(client, HELD)
        job = backend.run(bell(), shots=10)
        held.wait_held()
        job.cancel()
    with pytest.raises(EigenJobFailed) as failure:
        job.result()
    assert failure.value.state is JobState.CANCELLED
    assert job.status() is JobStatus.CANCELLED


def test_eigen_client_does_not_load_qiskit() -> None:
    probe = "import sys, eigen.client, eigen.client.client; print('qiskit' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"
