"""Memory admission: a job whose run cannot fit in the worker's memory is refused at
submission (RESOURCE_EXHAUSTED with the bytes and the limit), before anything is stored;
and the limit's default from the machine (config/worker_memory.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from eigen.config.worker_memory import DEFAULT_SHARE, cgroup_limit, worker_memory_limit
from eigen.errors import ResourceExhausted
from eigen.kernel.admission import check_submission
from eigen.kernel.memory_admission import submission_need
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.base import JobFilter
from eigen.kernel.store.memory import MemoryJobStore
from eigen.models.compiled import CompiledProgram, HybridSpec
from eigen.models.job import JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.state_memory import StateMemory
from eigen.models.target import DeviceInfo
from tests.unit.kernel.conftest import DEVICE, FakeCompiler, FakeDrivers, job_request

GIB = 1 << 30
BASIS = ("h", "cx", "measure")


def device(name: str, kind: StateMemory, **fields: object) -> DeviceInfo:
    return DeviceInfo(name=name, num_qubits=30, basis_gates=BASIS, state_memory=kind, **fields)  # type: ignore[arg-type]


STATEVECTOR = device("sim:statevector", StateMemory.LEAST)
AER = device("sim:aer", StateMemory.COMPLEX128)
QSIM = device("sim:qsim", StateMemory.COMPLEX64)
STABILIZER = device("sim:stabilizer", StateMemory.NONE, clifford_only=True)


def compiled(width: int, **fields: object) -> CompiledProgram:
    values: dict[str, object] = {
        "circuit": QuantumCircuit(width, width),
        "device": "sim:statevector",
        "num_qubits": width,
        "num_clbits": width,
        "parameters": [],
        "report": {},
    }
    values.update(fields)
    return CompiledProgram(**values)  # type: ignore[arg-type]


def request(**fields: object) -> JobRequest:
    values: dict[str, object] = {"program": "x", "language": ProgramLanguage.QASM3, "shots": 1024}
    values.update(fields)
    return JobRequest(**values)  # type: ignore[arg-type]


def test_a_28_qubit_complex128_job_over_the_limit_is_refused_with_bytes_and_limit() -> None:
    with pytest.raises(ResourceExhausted) as caught:
        check_submission(request(target="sim:aer"), AER, compiled(28), memory_limit=3 * GIB)
    message = caught.value.message
    assert message.startswith("sim:aer: the job needs 4.0 GiB for a 28-qubit complex128 state vector")
    assert "memory limit of 3.0 GiB" in message
    assert "worker_memory_bytes" in message
    assert int(caught.value.metadata["needed_bytes"]) > 4 * GIB
    assert caught.value.metadata["value"] == str(3 * GIB)


def test_a_job_within_the_limit_is_admitted() -> None:
    check_submission(request(target="sim:aer"), AER, compiled(27), memory_limit=3 * GIB)  # 2 GiB
    check_submission(request(target="sim:qsim"), QSIM, compiled(28), memory_limit=3 * GIB)  # 2 GiB


def test_sim_statevector_counts_qsims_complex64_state() -> None:
    check_submission(request(), STATEVECTOR, compiled(28), memory_limit=3 * GIB)
    need = submission_need(request(), STATEVECTOR, compiled(28))
    assert need.kind is StateMemory.COMPLEX64
    with pytest.raises(ResourceExhausted, match="29-qubit complex64 state vector"):
        check_submission(request(), STATEVECTOR, compiled(29), memory_limit=3 * GIB)


def test_sim_statevector_counts_aer_for_a_noise_model() -> None:
    noisy = request(options={"noise_model": "depolarizing:0.001"})
    with pytest.raises(ResourceExhausted, match="28-qubit complex128 state vector"):
        check_submission(noisy, STATEVECTOR, compiled(28), memory_limit=3 * GIB)
    from_program = compiled(28, decorator={"noise_model": "depolarizing:0.001"})
    assert submission_need(request(), STATEVECTOR, from_program).kind is StateMemory.COMPLEX128


def test_sim_statevector_counts_aer_for_exact_estimation() -> None:
    exact = request(shots=0, observables=[{"Z" * 28: 1.0}])
    with pytest.raises(ResourceExhausted, match="complex128"):
        check_submission(exact, STATEVECTOR, compiled(28), memory_limit=3 * GIB)
    hybrid = compiled(28, hybrid=HybridSpec(observables={"e": [("Z" * 28, 1.0)]}, objective="e"))
    assert submission_need(request(shots=0), STATEVECTOR, hybrid).kind is StateMemory.COMPLEX128
    assert submission_need(request(shots=100), STATEVECTOR, hybrid).kind is StateMemory.COMPLEX64


def test_a_device_on_a_coupling_map_counts_all_its_qubits() -> None:
    emulator = DeviceInfo(
        name="emu:wide",
        num_qubits=20,
        basis_gates=BASIS,
        coupling_map=((0, 1),),
        state_memory=StateMemory.COMPLEX128,
    )
    assert submission_need(request(), emulator, compiled(2)).num_qubits == 20


def test_uncounted_devices_no_limit_and_empty_programs_are_never_refused() -> None:
    check_submission(request(), STABILIZER, compiled(30), memory_limit=1)
    check_submission(request(target="sim:aer"), AER, compiled(30), memory_limit=None)
    check_submission(request(target="sim:aer"), AER, compiled(30, empty=True), memory_limit=1)


class _CountedDrivers(FakeDrivers):
    """The kernel tests' device, holding a complex128 state."""

    info = dataclasses.replace(DEVICE, state_memory=StateMemory.COMPLEX128)

    def list_devices(self) -> list[DeviceInfo]:
        return [self.info]

    def device(self, name: str) -> DeviceInfo:
        super().device(name)
        return self.info


def test_the_kernels_setting_refuses_at_submit_and_stores_nothing(tmp_path: Path) -> None:
    drivers = _CountedDrivers()
    kernel = Kernel(
        MemoryJobStore(),
        ArtifactStore(tmp_path / "artifacts"),
        FakeCompiler(),
        drivers,  # type: ignore[arg-type]  # a test double without estimate
        KernelSettings(watchdog_interval_s=0.02, worker_memory_bytes=1 << 20),
    )
    kernel.start()
    try:
        with pytest.raises(ResourceExhausted, match=r"2-qubit complex128 state vector.*limit of 1\.0 MiB"):
            kernel.submit(job_request())
        with pytest.raises(ResourceExhausted):
            kernel.submit_batch([job_request(), job_request()])
        assert kernel.list_jobs(JobFilter()) == []
        assert drivers.executed == []
    finally:
        kernel.stop()


# -- the limit's default ---------------------------------------------------------------------
def test_a_set_limit_wins(tmp_path: Path) -> None:
    cgroup = tmp_path / "memory.max"
    cgroup.write_text("1024\n")
    assert worker_memory_limit(5 * GIB, machine=GIB, cgroup_files=[cgroup]) == 5 * GIB


def test_the_default_is_a_share_of_the_machine(tmp_path: Path) -> None:
    absent = [tmp_path / "none"]
    assert worker_memory_limit(0, machine=16 * GIB, cgroup_files=absent) == int(16 * GIB * DEFAULT_SHARE)
    assert worker_memory_limit(0, cgroup_files=absent) > 0  # this machine's


def test_a_lower_cgroup_limit_is_honoured(tmp_path: Path) -> None:
    cgroup = tmp_path / "memory.max"
    cgroup.write_text(f"{4 * GIB}\n")
    assert worker_memory_limit(0, machine=16 * GIB, cgroup_files=[cgroup]) == int(4 * GIB * DEFAULT_SHARE)
    cgroup.write_text(f"{64 * GIB}\n")  # above the machine's: the machine's counts
    assert worker_memory_limit(0, machine=16 * GIB, cgroup_files=[cgroup]) == int(16 * GIB * DEFAULT_SHARE)


def test_an_unlimited_cgroup_reads_as_none(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    v2.write_text("max\n")
    v1.write_text("1024\n")
    assert cgroup_limit([v2, v1]) is None  # v2 says unlimited: v1's file is not this cgroup's
    assert cgroup_limit([tmp_path / "absent", v1]) == 1024


def test_sim_statevector_counts_aer_for_a_state_vector_output() -> None:
    # the state vector is computed on aer (qsim's has no global phase): aer's state counts
    wants = request(outputs=["counts", "statevector"])
    assert submission_need(wants, STATEVECTOR, compiled(20)).kind is StateMemory.COMPLEX128
    assert submission_need(request(outputs=["probabilities"]), STATEVECTOR, compiled(20)).kind is (
        StateMemory.COMPLEX64
    )
