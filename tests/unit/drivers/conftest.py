"""Shared circuits and drivers for the driver tests (drivers are built once per session)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from qiskit import QuantumCircuit

from eigen.drivers.emulator import ManilaEmulator
from eigen.drivers.qsim import QsimDriver
from eigen.drivers.stabilizer import StabilizerDriver
from eigen.drivers.statevector import AerStatevectorDriver, StatevectorDriver


@pytest.fixture(scope="session")
def statevector() -> StatevectorDriver:
    return StatevectorDriver()


@pytest.fixture(scope="session")
def aer() -> AerStatevectorDriver:
    return AerStatevectorDriver()


@pytest.fixture(scope="session")
def qsim() -> QsimDriver:
    return QsimDriver()


@pytest.fixture(scope="session")
def stabilizer() -> StabilizerDriver:
    return StabilizerDriver()


@pytest.fixture(scope="session")
def manila() -> ManilaEmulator:
    return ManilaEmulator()


@pytest.fixture
def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


@pytest.fixture
def x_on_0() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.measure([0, 1], [0, 1])
    return qc


def _ghz(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n, n)
    qc.h(0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.measure(range(n), range(n))
    return qc


@pytest.fixture
def ghz() -> Callable[[int], QuantumCircuit]:
    """Build an n-qubit GHZ circuit measuring qubit k into clbit k."""
    return _ghz
