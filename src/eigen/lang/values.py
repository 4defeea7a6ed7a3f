"""What a name in an Eigen-Lang program can be bound to while the reader walks it."""

from __future__ import annotations

from dataclasses import dataclass, field

from qiskit.circuit import Parameter, ParameterExpression

Angle = float | ParameterExpression


@dataclass(frozen=True)
class ParamValue:
    """``Param(name, default)``: a qiskit ``Parameter`` named ``name``."""

    name: str
    default: float | None
    parameter: Parameter
    line: int


@dataclass(frozen=True)
class QubitRegisterValue:
    """``QubitRegister(size)``: qubits ``offset .. offset+size-1`` of the circuit."""

    offset: int
    size: int


@dataclass(frozen=True)
class ClassicalRegisterValue:
    """``ClassicalRegister(size)``: bits ``offset .. offset+size-1`` of the circuit."""

    offset: int
    size: int


@dataclass(frozen=True)
class QubitRef:
    """``q[i]``: one qubit, by its index in the whole circuit."""

    index: int


@dataclass(frozen=True)
class ClbitRef:
    """``c[i]``: one classical bit, by its index in the whole circuit."""

    index: int


@dataclass(frozen=True)
class PauliTerm:
    """One term of an observable before the circuit width is known.

    Either ``label`` (a full Qiskit-order label) or ``paulis`` (qubit -> letter, the
    shorthand form) is set.
    """

    coefficient: float
    line: int
    label: str | None = None
    paulis: tuple[tuple[int, str], ...] = ()


@dataclass
class ObservableValue:
    """``Observable(...)``: its terms, widened to the circuit once that is known."""

    terms: list[PauliTerm]
    line: int


@dataclass(frozen=True)
class TermsOf:
    """``H.terms``: an Observable's terms, known once the circuit's width is (at the end)."""

    observable: ObservableValue


@dataclass(frozen=True)
class ExpectationRef:
    """``ExpectationValue(label, observable=...)``."""

    label: str


@dataclass(frozen=True)
class ResultRef:
    """What ``minimize(...)`` returned (an ``OptimizationResult``)."""

    objective: str


@dataclass(frozen=True)
class ResultField:
    """``opt.fun`` and friends: only meaningful in the ``return {...}``."""

    path: str


@dataclass(frozen=True)
class DatasetValue:
    """``load_dataset(source, format=...)`` / ``DatasetRef(...)``."""

    source: str
    format: str | None = None


@dataclass
class Declarations:
    """Everything the program declares, in order."""

    params: dict[str, ParamValue] = field(default_factory=dict)
    qregs: list[QubitRegisterValue] = field(default_factory=list)
    cregs: list[ClassicalRegisterValue] = field(default_factory=list)
    observables: list[ObservableValue] = field(default_factory=list)
    datasets: list[DatasetValue] = field(default_factory=list)

    @property
    def declared_qubits(self) -> int:
        return sum(reg.size for reg in self.qregs)

    @property
    def declared_clbits(self) -> int:
        return sum(reg.size for reg in self.cregs)


def describe(value: object) -> str:
    """A short human name for a bound value, for error messages."""
    names: dict[type, str] = {
        ParamValue: "a Param",
        QubitRegisterValue: "a QubitRegister",
        ClassicalRegisterValue: "a ClassicalRegister",
        QubitRef: "a qubit",
        ClbitRef: "a classical bit",
        ObservableValue: "an Observable",
        TermsOf: "an Observable's terms",
        ExpectationRef: "an ExpectationValue",
        ResultRef: "an OptimizationResult",
        ResultField: "an OptimizationResult field",
        DatasetValue: "a dataset",
        bool: "a bool",
        str: "a string",
        list: "a list",
        tuple: "a tuple",
        dict: "a dict",
        type(None): "None",
    }
    if isinstance(value, ParameterExpression):
        return "a parameter expression"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
