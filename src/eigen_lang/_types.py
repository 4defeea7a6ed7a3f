"""The value types of Eigen-Lang (editor and linter stubs; Eigen reads programs as ASTs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eigen_lang._marker import not_runnable

pi = 3.141592653589793


class Expr:
    """An angle expression over ``Param`` s: ``+ - * /`` and unary ``-`` with numbers."""

    def _op(self, other: object) -> Expr:
        return Expr()

    __add__ = __radd__ = __sub__ = __rsub__ = _op
    __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _op

    def __neg__(self) -> Expr:
        return Expr()

    def __pos__(self) -> Expr:
        return self


Angle = float | Expr


@dataclass(eq=False)
class Param(Expr):
    """A named circuit parameter; ``default`` is its value when none is bound."""

    name: str
    default: float | None = None


@dataclass
class QubitRegister:
    """``n`` qubits; registers are laid out one after another in declaration order."""

    size: int

    def __getitem__(self, index: int) -> int:
        not_runnable("eigen_lang.QubitRegister.__getitem__()")


@dataclass
class ClassicalRegister:
    """``n`` classical bits (counts bitstrings put bit 0 rightmost)."""

    size: int

    def __getitem__(self, index: int) -> int:
        not_runnable("eigen_lang.ClassicalRegister.__getitem__()")


class Observable:
    """A Pauli observable.

    ``Observable(Z=0, X=1)``: each keyword is a Pauli letter, an int puts it on that qubit
    and a list of ints puts it on every listed qubit as one product term (``Z=[0, 1]`` is
    Z0 Z1); every keyword is one term of weight 1. ``Observable({"IZ": 0.39, "XX": 0.18})``
    (or ``terms=``): a weighted Pauli sum, labels in Qiskit order (rightmost character acts
    on qubit 0), one character per qubit of the circuit.

    ``H.terms`` in a program's return value: the terms with their weights,
    ``[[label, weight], ...]`` as wide as the circuit.
    """

    def __init__(
        self,
        terms: Mapping[str, float] | Sequence[tuple[str, float]] | str | None = None,
        **paulis: int | Sequence[int],
    ) -> None:
        self.terms = terms
        self.paulis = dict(paulis)


@dataclass
class ExpectationValue:
    """The expectation value of ``observable`` on the program's circuit, named ``label``."""

    label: str
    observable: Observable | None = None


@dataclass
class OptimizationResult:
    """What :func:`eigen_lang.optimizers.minimize` returns (filled in by the kernel).

    ``x`` is in ``Param`` declaration order; ``objective`` is the minimised label;
    ``metadata`` holds ``iterations``, ``evaluations``, ``max_iters``, ``converged``,
    ``message`` and ``gradient``."""

    fun: float = 0.0
    x: list[float] = field(default_factory=list)
    method: str = ""
    objective: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetRef:
    """A reference to a data set (a QFS or dataset URI) the job needs."""

    source: str
    format: str | None = None


def load_dataset(source: str, format: str | None = None) -> DatasetRef:
    """Declare a data set the program uses; Eigen records it, nothing is read here."""
    return DatasetRef(source, format)
