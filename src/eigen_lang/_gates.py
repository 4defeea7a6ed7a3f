"""Gate markers of Eigen-Lang. Qubits are integer indices (or ``register[i]``)."""

from __future__ import annotations

from collections.abc import Sequence

from eigen_lang._marker import not_runnable
from eigen_lang._types import Angle


def rx(qubit: int, theta: Angle) -> None:
    """X rotation by ``theta``."""
    not_runnable("eigen_lang.rx()")


def ry(qubit: int, theta: Angle) -> None:
    """Y rotation by ``theta``."""
    not_runnable("eigen_lang.ry()")


def rz(qubit: int, theta: Angle) -> None:
    """Z rotation by ``theta``."""
    not_runnable("eigen_lang.rz()")


def x(qubit: int) -> None:
    """Pauli X."""
    not_runnable("eigen_lang.x()")


def y(qubit: int) -> None:
    """Pauli Y."""
    not_runnable("eigen_lang.y()")


def z(qubit: int) -> None:
    """Pauli Z."""
    not_runnable("eigen_lang.z()")


def h(qubit: int) -> None:
    """Hadamard."""
    not_runnable("eigen_lang.h()")


def s(qubit: int) -> None:
    """S (sqrt Z)."""
    not_runnable("eigen_lang.s()")


def t(qubit: int) -> None:
    """T (fourth root of Z)."""
    not_runnable("eigen_lang.t()")


def cx(control: int, target: int) -> None:
    """Controlled X."""
    not_runnable("eigen_lang.cx()")


cnot = cx


def cz(qubit1: int, qubit2: int) -> None:
    """Controlled Z."""
    not_runnable("eigen_lang.cz()")


def swap(qubit1: int, qubit2: int) -> None:
    """Swap two qubits."""
    not_runnable("eigen_lang.swap()")


def ccx(control1: int, control2: int, target: int) -> None:
    """Toffoli."""
    not_runnable("eigen_lang.ccx()")


def ccz(qubit1: int, qubit2: int, qubit3: int) -> None:
    """Doubly controlled Z."""
    not_runnable("eigen_lang.ccz()")


def measure(*qubits: int, basis: str = "Z", c: Sequence[int] | None = None) -> None:
    """Measure ``qubits`` in ``basis`` (Z, X or Y) into classical bits ``c``.

    ``c`` defaults to the same indices as the qubits.
    """
    not_runnable("eigen_lang.measure()")


def measure_all() -> None:
    """Measure every qubit ``i`` into classical bit ``i``."""
    not_runnable("eigen_lang.measure_all()")


def reset(qubit: int) -> None:
    """Reset a qubit to ``|0>``."""
    not_runnable("eigen_lang.reset()")
