"""Qiskit objects to Eigen job fields and Eigen results back to qiskit containers.

* Circuits travel as OpenQASM 3 (``qiskit.qasm3.dumps``). Free parameters become
  ``input float[64] <name>;`` declarations. qiskit's exporter escapes names that are not
  OpenQASM identifiers (``θ[0]`` becomes ``_θ_0_``), so every parameter is first renamed
  to a plain generated name (``eigen_p0``, ``eigen_p1``, ... in ``circuit.parameters``
  order) and bindings are sent under those names.
* Counts from Eigen are bitstrings over all classical bits of the circuit, classical
  bit 0 the rightmost character (the Qiskit convention).
* Observables become ``{Pauli label: real coefficient}`` dicts, labels in Qiskit order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import qiskit.qasm3
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives.containers import BindingsArray, BitArray
from qiskit.quantum_info import SparseObservable, SparsePauliOp

_JOB_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_PARAMETER_PREFIX = "eigen_p"


@dataclass(frozen=True)
class Program:
    """A circuit as OpenQASM 3 text, and the names its parameters were given there."""

    source: str
    names: tuple[str, ...]  # names[i] is the OpenQASM input of circuit.parameters[i]


def job_name(name: str | None, fallback: str) -> str:
    """A job name Eigen accepts (``[A-Za-z0-9._-]{1,128}``) made from a circuit's name."""
    cleaned = _JOB_NAME.sub("-", name or "").strip("-")[:128]
    return cleaned or fallback


def to_qasm3(circuit: QuantumCircuit) -> Program:
    """OpenQASM 3 source of ``circuit``; its free parameters become ``input float[64]``."""
    parameters = list(circuit.parameters)
    prefix = _free_prefix(circuit)
    names = tuple(f"{prefix}{index}" for index in range(len(parameters)))
    renamed = (
        circuit.assign_parameters(
            {old: Parameter(new) for old, new in zip(parameters, names, strict=True)}, inplace=False
        )
        if parameters
        else circuit
    )
    try:
        source = qiskit.qasm3.dumps(renamed)
    except Exception as exc:
        raise ValueError(
            f"circuit {circuit.name!r} cannot be written as OpenQASM 3 for Eigen: {exc}"
        ) from exc
    for name in names:
        if f"input float[64] {name};" not in source:
            raise ValueError(
                f"circuit {circuit.name!r}: parameter {name!r} was not exported as an OpenQASM 3 input"
            )
    return Program(source, names)


def _free_prefix(circuit: QuantumCircuit) -> str:
    """A parameter-name prefix no register or instruction of the circuit starts with."""
    taken = {register.name for register in (*circuit.qregs, *circuit.cregs)}
    taken |= {instruction.operation.name for instruction in circuit.data}
    prefix = _PARAMETER_PREFIX
    while any(name.startswith(prefix) for name in taken):
        prefix = "_" + prefix
    return prefix


def check_classical_bits(circuit: QuantumCircuit) -> None:
    """Eigen returns one flat bitstring over the exported registers, in order.

    That matches ``circuit.clbits`` only when the classical registers partition the
    classical bits in order (what ``QuantumCircuit(n, m)``, ``measure_all`` and
    ``transpile`` produce). Loose or shared (aliased) classical bits are not supported.
    """
    in_registers = [bit for register in circuit.cregs for bit in register]
    if in_registers != list(circuit.clbits):
        raise ValueError(
            f"circuit {circuit.name!r}: Eigen needs every classical bit in exactly one classical "
            "register, registers in the circuit's bit order (no loose or aliased bits)"
        )


def bindings(values: BindingsArray, circuit: QuantumCircuit, program: Program) -> list[dict[str, float]]:
    """The flattened (C order) parameter bindings of a PUB, under the exported names.

    An empty list means "run once with no bindings" (no parameters, a single element).
    """
    size = int(np.prod(values.shape, dtype=int))
    if not program.names:
        return [] if size == 1 else [{} for _ in range(size)]
    table = values.as_array(circuit.parameters).reshape(size, len(program.names))
    return [{name: float(value) for name, value in zip(program.names, row, strict=True)} for row in table]


def pauli_terms(observable: SparseObservable) -> dict[str, float]:
    """``{label: coefficient}`` of a Hermitian observable, labels in Qiskit order."""
    paulis = SparsePauliOp.from_sparse_observable(observable.as_paulis()).simplify()
    terms: dict[str, float] = {}
    for label, coefficient in paulis.to_list():
        if abs(coefficient.imag) > 1e-10:
            raise ValueError(f"observable term {label} has a complex coefficient {coefficient}")
        terms[label] = terms.get(label, 0.0) + float(coefficient.real)
    if not terms:  # the zero operator
        terms["I" * observable.num_qubits] = 0.0
    return terms


def marginal(counts: Mapping[str, int], num_bits: int) -> dict[str, int]:
    """Keep the ``num_bits`` rightmost bits of each outcome (drop bits Eigen added)."""
    if num_bits <= 0:
        return dict(counts)
    kept: dict[str, int] = {}
    for key, number in counts.items():
        bits = key.replace(" ", "").rjust(num_bits, "0")[-num_bits:]
        kept[bits] = kept.get(bits, 0) + int(number)
    return kept


def hex_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """Bitstring keys to the hex keys of qiskit's raw experiment data."""
    return {hex(int(key, 2)) if key else "0x0": int(number) for key, number in counts.items()}


def memory(counts: Mapping[str, int], rng: np.random.Generator) -> list[str]:
    """Per-shot hex outcomes rebuilt from counts, in a random order.

    Eigen returns counts, not the shot sequence; for independent shots (every Eigen
    backend) a random order of the same outcomes has the same distribution.
    """
    shots = [hex(int(key, 2)) if key else "0x0" for key, number in counts.items() for _ in range(number)]
    order = rng.permutation(len(shots))
    return [shots[i] for i in order]


def bit_array(
    counts: Sequence[Mapping[str, int]],
    num_bits: int,
    shape: tuple[int, ...],
    rng: np.random.Generator,
) -> BitArray:
    """One BitArray of ``shape`` from the counts of each element (C order), shots shuffled."""
    arrays = []
    for table in counts:
        sampled = BitArray.from_counts(marginal(table, num_bits), num_bits=num_bits).array
        arrays.append(sampled[rng.permutation(sampled.shape[0])])
    if len({array.shape for array in arrays}) > 1:
        raise ValueError("Eigen returned a different number of shots for elements of one PUB")
    stacked = np.stack(arrays).reshape(*shape, *arrays[0].shape)
    return BitArray(stacked, num_bits)
