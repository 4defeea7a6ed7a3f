"""Pauli observables: grouping into qubit-wise commuting sets and estimation from counts.

Labels follow the Qiskit order (the rightmost character acts on qubit 0). A group is
measured in one basis (one letter per qubit); every term of the group is read from the
same shots. For a group, the per-shot value ``v = sum_t c_t * (-1)^parity_t`` gives the
estimate (the mean of v) and its standard error (std(v) / sqrt(shots)); groups are
independent, so their variances add.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit.quantum_info import SparsePauliOp

from eigen.errors import InvalidArgument

Term = tuple[str, float]
PAULI_LETTERS = frozenset("IXYZ")


@dataclass(frozen=True)
class Group:
    basis: str  # one of X, Y, Z per qubit, Qiskit order
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """How to measure a set of observables: groups, plus each observable's identity offset."""

    groups: tuple[Group, ...]
    offsets: tuple[float, ...]

    @property
    def bases(self) -> tuple[str, ...]:
        return tuple(g.basis for g in self.groups)


def check_observable(terms: list[Term], width: int, field: str) -> None:
    if not terms:
        raise InvalidArgument.for_field(field, "an observable needs at least one Pauli term")
    for label, _ in terms:
        if len(label) != width or not set(label) <= PAULI_LETTERS:
            raise InvalidArgument.for_field(
                field,
                f"Pauli label {label!r} must have one of I, X, Y, Z for each of the {width} qubits",
            )


def plan(observables: list[list[Term]], width: int) -> Plan:
    offsets = []
    labels: list[str] = []
    for terms in observables:
        offsets.append(sum(c for label, c in terms if set(label) == {"I"}))
        labels += [label for label, _ in terms if set(label) != {"I"} and label not in labels]
    if not labels:
        return Plan((), tuple(offsets))
    grouped = SparsePauliOp(labels).group_commuting(qubit_wise=True)
    groups = []
    for op in grouped:
        members = tuple(str(p) for p in op.paulis.to_labels())
        basis = "".join(next((m[i] for m in members if m[i] != "I"), "Z") for i in range(width))
        groups.append(Group(basis, members))
    return Plan(tuple(groups), tuple(offsets))


def _masks(labels: tuple[str, ...]) -> np.ndarray:
    return np.array(
        [sum(1 << q for q, letter in enumerate(reversed(label)) if letter != "I") for label in labels],
        dtype=np.int64,
    )


def estimate(
    observables: list[list[Term]], plan_: Plan, counts_by_basis: dict[str, dict[str, int]]
) -> list[tuple[float, float]]:
    """(value, standard error) of each observable from the counts of every group's basis."""
    results = []
    for index, terms in enumerate(observables):
        coefficients = dict(terms)
        value, variance = plan_.offsets[index], 0.0
        for group in plan_.groups:
            weights = np.array([coefficients.get(label, 0.0) for label in group.labels])
            if not weights.any():
                continue
            counts = counts_by_basis[group.basis]
            outcomes = np.array([int(bits, 2) for bits in counts], dtype=np.int64)
            frequency = np.array(list(counts.values()), dtype=float)
            shots = frequency.sum()
            parity = np.bitwise_count(outcomes[:, None] & _masks(group.labels)[None, :]) % 2
            per_outcome = (1.0 - 2.0 * parity) @ weights
            mean = float(per_outcome @ frequency / shots)
            spread = float(((per_outcome - mean) ** 2) @ frequency / shots)
            value += mean
            variance += spread / shots
        results.append((value, float(np.sqrt(variance))))
    return results
