"""Measurement-basis variants of a circuit, for shot-based estimation of Pauli observables.

A basis label has one letter per logical qubit in Qiskit order (the rightmost letter is
qubit 0): ``Z`` measures as is, ``X`` adds ``h``, ``Y`` adds ``sdg`` then ``h``. Logical
qubit ``i`` is measured into classical bit ``i`` whatever layout the transpiler picks, so
counts read the same on every device.
"""

from __future__ import annotations

from qiskit.circuit import ClassicalRegister, QuantumCircuit

from eigen.compiler.source import program_error
from eigen.errors import quote

BASIS_LETTERS = frozenset("XYZ")


def measured_in_basis(logical: QuantumCircuit, basis: str) -> QuantumCircuit:
    width = logical.num_qubits
    if len(basis) != width or not set(basis) <= BASIS_LETTERS:
        raise program_error(
            f"measurement basis {quote(basis)} must have one of X, Y, Z for each of the {width} qubits"
        )
    circuit = logical.remove_final_measurements(inplace=False)  # drops idle registers too
    register = ClassicalRegister(width, "meas")
    circuit.add_register(register)
    for qubit, letter in enumerate(reversed(basis)):
        if letter == "Y":
            circuit.sdg(qubit)
        if letter in "XY":
            circuit.h(qubit)
    circuit.measure(range(width), register)
    return circuit
