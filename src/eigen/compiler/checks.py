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
"""

from __future__ import annotations

from qiskit.circuit import QuantumCircuit
from qiskit.quantum_info import Clifford, get_clifford_gate_names

from eigen.compiler.source import program_error
from eigen.models.target import DeviceInfo

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
        except Exception:
            params = ", ".join(str(p) for p in operation.params)
            shown = f"{operation.name}({params})" if params else operation.name
            raise program_error(
                f"instruction {index} {shown!r} is not a Clifford gate; "
                f"{device.name} runs Clifford circuits only"
            ) from None
        if rewritten is None:
            rewritten = circuit.copy_empty_like()
            for earlier in circuit.data[:index]:
                rewritten.append(earlier)
        rewritten.compose(clifford.to_circuit(), qubits=list(item.qubits), inplace=True)
    return circuit if rewritten is None else rewritten
