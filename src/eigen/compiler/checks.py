"""Checks on a parsed (logical) circuit against the device it is compiled for.

* :func:`check_width`: at least one qubit, no more qubits than the device has.
* :func:`ensure_measured`: a non-hybrid circuit without any measurement gets
  ``measure_all()`` (a barrier, then every qubit into a new ``meas`` register), so the
  counts of such a job cover every qubit. Circuits that measure anything are left as
  written; hybrid (Eigen-Lang) circuits are left unmeasured for expectation values.
* :func:`check_clifford`: for a ``clifford_only`` device (a stabilizer simulator) every
  gate must be Clifford; the first offending one is named. Gates that are Clifford only
  for their angles (``rz(pi/2)``, ``u(pi/2, 0, pi)``, a user gate made of Cliffords) are
  replaced by qiskit's Clifford synthesis so the device's named-gate basis can express
  them.
* :func:`check_structure` (device-independent, run where the program is parsed): the
  circuit, expanded (each user gate replaced by its definition, each ``for`` loop
  unrolled), has at most :data:`MAX_EXPANDED_OPERATIONS` operations, and no instruction
  names the same qubit or classical bit twice (``cx q[0], q[0]``: qiskit's transpiler
  panics on it), in the circuit, in gate definitions and in control-flow blocks.
"""

from __future__ import annotations

from qiskit.circuit import (
    CircuitInstruction,
    Clbit,
    ControlFlowOp,
    ForLoopOp,
    Instruction,
    QuantumCircuit,
    Qubit,
)
from qiskit.quantum_info import Clifford, get_clifford_gate_names

from eigen.compiler.source import program_error
from eigen.errors import quote
from eigen.models.panics import must_escape
from eigen.models.target import DeviceInfo

MAX_EXPANDED_OPERATIONS = 1_000_000

_CLIFFORD_NAMES = frozenset(get_clifford_gate_names()) | {"measure", "reset", "barrier", "delay"}


def check_width(circuit: QuantumCircuit, device: DeviceInfo) -> None:
    if circuit.num_qubits == 0:
        raise program_error("declares no qubits")
    if circuit.num_qubits > device.num_qubits:
        raise program_error(
            f"circuit uses {circuit.num_qubits} qubits but {device.name} has {device.num_qubits}"
        )


def has_measurements(circuit: QuantumCircuit) -> bool:
    return any(item.operation.name == "measure" for item in circuit.data)


def ensure_measured(circuit: QuantumCircuit, *, hybrid: bool = False) -> bool:
    """Add ``measure_all`` in place where needed (see the module docstring); True if added."""
    if hybrid or has_measurements(circuit):
        return False
    circuit.measure_all(inplace=True)
    return True


def check_clifford(circuit: QuantumCircuit, device: DeviceInfo) -> QuantumCircuit:
    """``circuit`` (or a rewritten copy) if it is Clifford, else InvalidArgument."""
    rewritten: QuantumCircuit | None = None
    for index, item in enumerate(circuit.data):
        operation = item.operation
        if operation.name in _CLIFFORD_NAMES:
            if rewritten is not None:
                rewritten.append(item)
            continue
        try:
            clifford = Clifford(operation)
        except BaseException as exc:  # a foreign panic too: whatever it is, not a Clifford
            if must_escape(exc):
                raise
            params = ", ".join(str(p) for p in operation.params)
            shown = f"{operation.name}({params})" if params else operation.name
            raise program_error(
                f"instruction {index} {quote(shown)} is not a Clifford gate; "
                f"{device.name} runs Clifford circuits only"
            ) from None
        if rewritten is None:
            rewritten = circuit.copy_empty_like()
            for earlier in circuit.data[:index]:
                rewritten.append(earlier)
        rewritten.compose(clifford.to_circuit(), qubits=list(item.qubits), inplace=True)
    return circuit if rewritten is None else rewritten


class _Structure:
    """One walk over a circuit, the definitions of its gates and its control-flow blocks.

    Sizes are memoised per circuit object, so a definition used many times is walked once
    and a circuit whose expanded size is exponential in its text is refused after at most
    :data:`MAX_EXPANDED_OPERATIONS` visits.
    """

    def __init__(self) -> None:
        self._sizes: dict[int, tuple[QuantumCircuit, int]] = {}  # the circuit keeps its id alive

    def size(self, circuit: QuantumCircuit, where: str) -> int:
        known = self._sizes.get(id(circuit))
        if known is not None:
            return known[1]
        total = 0
        for index, item in enumerate(circuit.data):
            _distinct_operands(circuit, item, index, where)
            total += self._operation(item.operation, where)
            if total > MAX_EXPANDED_OPERATIONS:
                raise program_error(
                    f"expands to more than {MAX_EXPANDED_OPERATIONS:,} operations (gate definitions "
                    "and loops unrolled); simplify it"
                )
        self._sizes[id(circuit)] = (circuit, total)
        return total

    def _operation(self, operation: Instruction, where: str) -> int:
        if isinstance(operation, ControlFlowOp):
            inner = f"{where}{_named(operation)} block: "
            blocks = sum(self.size(block, inner) for block in operation.blocks)
            if isinstance(operation, ForLoopOp):
                blocks *= len(operation.params[0])
            return max(blocks, 1)
        if getattr(operation, "_standard_gate", None) is not None:
            return 1
        definition = operation.definition
        if definition is None:
            return 1
        return max(self.size(definition, f"{where}in the definition of {_named(operation)}: "), 1)


def check_structure(circuit: QuantumCircuit) -> None:
    """Refuse a circuit that expands to more than :data:`MAX_EXPANDED_OPERATIONS`
    operations or has an instruction naming one (qu)bit twice (see the module docs)."""
    try:
        _Structure().size(circuit, "")
    except RecursionError:
        raise program_error("its gate definitions nest too deeply to check; simplify it") from None


def _named(operation: Instruction) -> str:
    return quote(operation.name, 40)


def _distinct_operands(circuit: QuantumCircuit, item: CircuitInstruction, index: int, where: str) -> None:
    for kind, bits in (("qubit", item.qubits), ("classical bit", item.clbits)):
        if len(bits) < 2 or len(set(bits)) == len(bits):
            continue
        seen: set[object] = set()
        for bit in bits:
            if bit in seen:
                raise program_error(
                    f"{where}instruction {index} ({_named(item.operation)}) has a repeated "
                    f"operand, {kind} {_bit_name(circuit, bit)}"
                )
            seen.add(bit)


def _bit_name(circuit: QuantumCircuit, bit: Qubit | Clbit) -> str:
    try:
        location = circuit.find_bit(bit)
    except Exception:  # a bit of no register of this circuit: its index is all there is
        return "?"
    if location.registers:
        register, position = location.registers[0]
        return f"{quote(register.name, 40)[1:-1]}[{position}]"
    return f"#{location.index}"
