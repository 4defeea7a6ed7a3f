"""The memory model: a run's state bytes by kind and width, the engine overhead, the
engine sim:statevector counts, and how a refusal reads."""

from __future__ import annotations

import pytest

from eigen.errors import ResourceExhausted
from eigen.models.state_memory import (
    AER_OVERHEAD,
    DENSITY_MATRIX_QUBITS,
    QSIM_OVERHEAD,
    StateMemory,
    format_bytes,
    over_limit,
    run_need,
    state_bytes,
)
from eigen.models.target import DeviceInfo

GIB = 1 << 30


def test_state_bytes_follow_the_issue() -> None:
    assert state_bytes(StateMemory.COMPLEX128, 28) == 4 * GIB  # 16 x 2^28
    assert state_bytes(StateMemory.COMPLEX64, 28) == 2 * GIB  # 8 x 2^28
    assert state_bytes(StateMemory.DENSITY, 10) == 16 * 4**10
    assert state_bytes(StateMemory.COMPLEX128, 29) == 2 * state_bytes(StateMemory.COMPLEX128, 28)
    assert state_bytes(StateMemory.NONE, 60) == 0
    assert state_bytes(StateMemory.GPU, 28) == 0


def test_a_need_is_its_state_plus_the_engine_overhead() -> None:
    aer = run_need(StateMemory.COMPLEX128, 24, shots=1000)
    assert aer.bytes == 16 * 2**24 + AER_OVERHEAD.fixed_bytes + 1000 * AER_OVERHEAD.per_shot_bytes
    qsim = run_need(StateMemory.COMPLEX64, 24, shots=1000)
    assert qsim.bytes == 8 * 2**24 + QSIM_OVERHEAD.fixed_bytes + 1000 * QSIM_OVERHEAD.per_shot_bytes
    assert run_need(StateMemory.COMPLEX128, 24, shots=10_000).bytes > aer.bytes  # shots cost too


def test_uncounted_kinds_need_nothing() -> None:
    assert run_need(StateMemory.NONE, 100, shots=10**6).bytes == 0
    assert run_need(StateMemory.GPU, 30, shots=10**6).bytes == 0


def test_least_is_complex64_where_the_complex64_engine_runs_the_circuit() -> None:
    assert run_need(StateMemory.LEAST, 28).kind is StateMemory.COMPLEX64
    assert run_need(StateMemory.LEAST, 28, complex64_runs=False).kind is StateMemory.COMPLEX128
    assert run_need(StateMemory.LEAST, 28, noisy=True).kind is StateMemory.COMPLEX128


def test_noisy_narrow_circuits_count_aers_density_matrix() -> None:
    narrow = run_need(StateMemory.COMPLEX128, DENSITY_MATRIX_QUBITS, noisy=True)
    assert narrow.kind is StateMemory.DENSITY
    assert narrow.state_bytes == 16 * 4**DENSITY_MATRIX_QUBITS
    wide = run_need(StateMemory.COMPLEX128, DENSITY_MATRIX_QUBITS + 1, noisy=True)
    assert wide.kind is StateMemory.COMPLEX128  # trajectories: one state vector
    assert run_need(StateMemory.LEAST, 4, noisy=True).kind is StateMemory.DENSITY


def test_parallel_states_multiply_the_state() -> None:
    one = run_need(StateMemory.COMPLEX128, 20)
    four = run_need(StateMemory.COMPLEX128, 20, states=4)
    assert four.bytes - one.bytes == 3 * one.state_bytes
    assert "4 20-qubit complex128 state vectors at once" in four.describe()


def test_describe_names_bytes_width_and_form() -> None:
    assert run_need(StateMemory.COMPLEX128, 28).describe() == "4.0 GiB for a 28-qubit complex128 state vector"
    assert run_need(StateMemory.COMPLEX64, 30).describe() == "8.0 GiB for a 30-qubit complex64 state vector"
    assert "complex128 density matrix" in run_need(StateMemory.DENSITY, 5).describe()


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (16 * 1024 * 1024, "16.0 MiB"),
        (4 * GIB + 16 * (1 << 20), "4.0 GiB"),
        (3 * GIB // 2, "1.5 GiB"),
        (5 * (1 << 60), "5.0 EiB"),
        (2000 * (1 << 60), "2000.0 EiB"),
    ],
)
def test_format_bytes(count: int, text: str) -> None:
    assert format_bytes(count) == text


def test_over_limit_names_the_need_the_limit_and_the_setting() -> None:
    need = run_need(StateMemory.COMPLEX128, 28)
    error = over_limit("sim:aer", need, GIB)
    assert isinstance(error, ResourceExhausted)
    assert error.code == "EIGEN_RESOURCE_EXHAUSTED"
    assert "needs 4.0 GiB for a 28-qubit complex128 state vector" in error.message
    assert "limit of 1.0 GiB" in error.message
    assert "worker_memory_bytes" in error.message and "EIGEN_WORKER_MEMORY_BYTES" in error.message
    assert error.metadata == {
        "limit": "worker_memory_bytes",
        "value": str(GIB),
        "needed_bytes": str(need.bytes),
    }


def test_a_device_counts_nothing_unless_it_says() -> None:
    plugin = DeviceInfo(name="x:plugin", num_qubits=40, basis_gates=("h",))
    assert plugin.state_memory is StateMemory.NONE
    assert run_need(plugin.state_memory, plugin.num_qubits).bytes == 0
    assert run_need("complex128", 10).kind is StateMemory.COMPLEX128  # a value read back as text
