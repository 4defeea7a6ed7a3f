"""Gate, measurement and reset calls, and the qiskit circuit they make.

Calls are read into :class:`Op` s first: the circuit width is only known once the whole
program is read (the sum of the ``QubitRegister`` sizes, else one more than the highest
qubit index used), so range checks and the circuit itself come after reading.

Measurement: ``measure(*qubits, basis="Z", c=[...])`` measures each qubit into classical
bit ``c[i]`` (default: the bit with the qubit's index); ``basis="X"`` applies ``h`` first,
``basis="Y"`` applies ``sdg`` then ``h``. ``measure_all()`` measures qubit ``i`` into bit
``i``. A plain (non-hybrid) program with no measurement gets qiskit's ``measure_all()``
at the end: a ``meas`` register of exactly one bit per qubit, bit 0 rightmost in counts.
A hybrid program's circuit is the unmeasured ansatz (see :mod:`eigen.lang.reader`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from qiskit.circuit import ClassicalRegister, Gate, QuantumCircuit, QuantumRegister
from qiskit.circuit.library import (
    CCXGate,
    CCZGate,
    CXGate,
    CZGate,
    HGate,
    RXGate,
    RYGate,
    RZGate,
    SGate,
    SwapGate,
    TGate,
    XGate,
    YGate,
    ZGate,
)

from eigen.errors import quote
from eigen.lang.diagnostics import fail
from eigen.lang.expressions import Evaluator
from eigen.lang.rules import MAX_OPERATIONS
from eigen.lang.signature import bind
from eigen.lang.values import Angle


@dataclass(frozen=True)
class GateSpec:
    """A gate's qubit argument names, whether it takes ``theta``, and its qiskit gate."""

    qubits: tuple[str, ...]
    angle: bool
    factory: Callable[..., Gate]


_ONE = ("qubit",)
GATES: dict[str, GateSpec] = {
    "rx": GateSpec(_ONE, True, RXGate),
    "ry": GateSpec(_ONE, True, RYGate),
    "rz": GateSpec(_ONE, True, RZGate),
    "x": GateSpec(_ONE, False, XGate),
    "y": GateSpec(_ONE, False, YGate),
    "z": GateSpec(_ONE, False, ZGate),
    "h": GateSpec(_ONE, False, HGate),
    "s": GateSpec(_ONE, False, SGate),
    "t": GateSpec(_ONE, False, TGate),
    "cx": GateSpec(("control", "target"), False, CXGate),
    "cnot": GateSpec(("control", "target"), False, CXGate),
    "cz": GateSpec(("qubit1", "qubit2"), False, CZGate),
    "swap": GateSpec(("qubit1", "qubit2"), False, SwapGate),
    "ccx": GateSpec(("control1", "control2", "target"), False, CCXGate),
    "ccz": GateSpec(("qubit1", "qubit2", "qubit3"), False, CCZGate),
}

MEASURE_BASES = ("Z", "X", "Y")


@dataclass(frozen=True)
class Op:
    """One gate, reset or measurement call, as read."""

    kind: str  # "gate", "reset", "measure", "measure_all"
    line: int
    gate: str = ""
    qubits: tuple[int, ...] = ()
    angle: Angle | None = None
    clbits: tuple[int, ...] = ()  # measure: explicit classical bits (empty: same as qubits)
    basis: str = "Z"


def read_gate(name: str, call: ast.Call, ev: Evaluator) -> Op:
    """``rx(0, theta)``, ``ry(0, theta=p)``, ``cx(0, 1)``, ``ccz(0, 1, 2)``..."""
    spec = GATES[name]
    params = (*spec.qubits, "theta") if spec.angle else spec.qubits
    bound = bind(call, name, params, required=params)
    qubits = tuple(ev.qubit(bound.args[arg]) for arg in spec.qubits)
    _distinct(call, name, qubits)
    angle = ev.angle(bound.args["theta"]) if spec.angle else None
    return Op("gate", call.lineno, gate=name, qubits=qubits, angle=angle)


def read_reset(call: ast.Call, ev: Evaluator) -> Op:
    """``reset(q)``: one qubit (or a register: every qubit of it)."""
    bound = bind(call, "reset", ("qubit",), required=("qubit",))
    qubits = tuple(ev.qubits(bound.args["qubit"]))
    _distinct(call, "reset", qubits)
    return Op("reset", call.lineno, qubits=qubits)


def read_measure(call: ast.Call, ev: Evaluator) -> Op:
    """``measure(*qubits, basis="Z", c=[...])``."""
    bound = bind(call, "measure", ("basis", "c"), var_positional=True)
    qubits: list[int] = []
    for arg in bound.rest_positional:
        qubits.extend(ev.qubits(arg))
    if not qubits:
        fail(call, "measure() needs at least one qubit (or use measure_all())")
    _distinct(call, "measure", tuple(qubits))
    basis = "Z"
    if (basis_node := bound.get("basis")) is not None:
        basis = ev.string(basis_node, "basis").upper()
        if basis not in MEASURE_BASES:
            fail(basis_node, f"basis must be one of Z, X, Y, not {quote(basis)}")
    clbits: tuple[int, ...] = ()
    if (c_node := bound.get("c")) is not None:
        clbits = tuple(ev.clbits(c_node))
        if len(clbits) != len(qubits):
            fail(c_node, f"measure() got {len(qubits)} qubits but {len(clbits)} classical bits")
        if len(set(clbits)) != len(clbits):
            fail(c_node, "measure() got the same classical bit twice")
    return Op("measure", call.lineno, qubits=tuple(qubits), clbits=clbits, basis=basis)


def read_measure_all(call: ast.Call) -> Op:
    """``measure_all()``: qubit i into classical bit i."""
    bind(call, "measure_all", ())
    return Op("measure_all", call.lineno)


def max_qubit(ops: list[Op]) -> int:
    """The highest qubit index the ops use (-1 if none)."""
    return max((q for op in ops for q in op.qubits), default=-1)


def is_measurement(op: Op) -> bool:
    return op.kind in ("measure", "measure_all")


def check_ops(ops: list[Op], width: int, clbits: int, *, hybrid: bool) -> None:
    """Qubits and classical bits in range; in hybrid programs, measurements come last."""
    total = 0 if any(map(is_measurement, ops)) or hybrid else width + 1
    measured: set[int] = set()
    for op in ops:
        for qubit in op.qubits:
            if qubit >= width:
                fail(op.line, f"qubit {qubit} is out of range: the circuit has {width} qubits")
        if hybrid and op.kind in ("gate", "reset") and measured.intersection(op.qubits):
            fail(
                op.line,
                "in a program with ExpectationValue, measurements must come last (the kernel "
                "measures each observable); a qubit is used here after it was measured",
            )
        if op.kind == "measure":
            targets = op.clbits or op.qubits
            for bit in targets:
                if bit >= clbits:
                    fail(
                        op.line,
                        f"classical bit {bit} is out of range: the circuit has {clbits} classical bits",
                    )
            measured.update(op.qubits)
            total += len(op.qubits) * (1 + {"Z": 0, "X": 1, "Y": 2}[op.basis])
        elif op.kind == "measure_all":
            if clbits < width:
                fail(op.line, f"measure_all() needs {width} classical bits; {clbits} declared")
            measured.update(range(width))
            total += width
        else:  # a gate, or a reset of each of its qubits
            total += len(op.qubits) if op.kind == "reset" else 1
        if total > MAX_OPERATIONS:
            fail(op.line, f"the circuit has more than {MAX_OPERATIONS} operations")


def build_circuit(ops: list[Op], width: int, clbits: int, *, hybrid: bool) -> QuantumCircuit:
    """The logical circuit; call :func:`check_ops` first.

    Hybrid programs leave their measurements out (the kernel measures per observable); a
    plain program without any measurement is measured entirely at the end.
    """
    circuit = QuantumCircuit(QuantumRegister(width, "q"))
    measures = any(map(is_measurement, ops))
    if measures and not hybrid:
        circuit.add_register(ClassicalRegister(clbits, "c"))
    for op in ops:
        if op.kind == "gate":
            spec = GATES[op.gate]
            gate = spec.factory(op.angle) if spec.angle else spec.factory()
            circuit.append(gate, list(op.qubits))
        elif op.kind == "reset":
            for qubit in op.qubits:
                circuit.reset(qubit)
        elif hybrid:
            continue
        elif op.kind == "measure":
            _measure(circuit, op)
        else:  # measure_all
            circuit.measure(list(range(width)), list(range(width)))
    if not measures and not hybrid:
        circuit.measure_all(add_bits=True)
    return circuit


def _measure(circuit: QuantumCircuit, op: Op) -> None:
    for qubit in op.qubits:
        if op.basis == "Y":
            circuit.sdg(qubit)
        if op.basis in ("X", "Y"):
            circuit.h(qubit)
    circuit.measure(list(op.qubits), list(op.clbits or op.qubits))


def _distinct(call: ast.Call, name: str, qubits: tuple[int, ...]) -> None:
    if len(set(qubits)) != len(qubits):
        fail(call, f"{name}() got the same qubit more than once")
