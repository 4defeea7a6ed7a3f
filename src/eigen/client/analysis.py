"""Analysis of measurement counts (pure Python; Qiskit bit order).

Outcomes are bitstrings with classical bit 0 as the **rightmost** character (spaces
between registers are ignored), as in Qiskit and in Eigen's results. Every function
takes counts (``{"01": 12, ...}``) or probabilities (``{"01": 0.012, ...}``) where that
makes sense, or a :class:`JobResult` (its first experiment).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from eigen.models.result import JobResult

Distribution = Mapping[str, float] | Mapping[str, int]
Countable = Distribution | JobResult


def _dist(data: Countable) -> Mapping[str, float]:
    if isinstance(data, JobResult):
        return data.counts
    return data


def _bits(outcome: str) -> str:
    bits = outcome.replace(" ", "")
    if not bits or any(c not in "01" for c in bits):
        raise ValueError(f"outcome {outcome!r} is not a bitstring")
    return bits


def probabilities(data: Countable) -> dict[str, float]:
    """Normalised probabilities of the outcomes (spaces removed)."""
    merged: dict[str, float] = {}
    for outcome, value in _dist(data).items():
        if value < 0:
            raise ValueError(f"negative count for {outcome!r}")
        key = _bits(outcome)
        merged[key] = merged.get(key, 0) + value
    total = sum(merged.values())
    if total <= 0:
        raise ValueError("the distribution is empty")
    return {outcome: value / total for outcome, value in merged.items()}


def combine_counts(*counts: Distribution) -> dict[str, float]:
    """Sum several count dictionaries (e.g. the experiments of repeated jobs)."""
    total: dict[str, float] = {}
    for item in counts:
        for outcome, value in item.items():
            key = _bits(outcome)
            total[key] = total.get(key, 0) + value
    return total


def marginal_counts(data: Countable, qubits: Sequence[int]) -> dict[str, float]:
    """Counts over the chosen classical bits only.

    The result's bit ``k`` (``k``-th character from the right) is input bit
    ``qubits[k]``, as in ``qiskit.result.marginal_distribution``.
    """
    if not qubits:
        raise ValueError("choose at least one bit")
    if len(set(qubits)) != len(qubits) or min(qubits) < 0:
        raise ValueError(f"bit indices must be distinct and non-negative, got {list(qubits)}")
    marginal: dict[str, float] = {}
    for outcome, value in _dist(data).items():
        bits = _bits(outcome)
        if max(qubits) >= len(bits):
            raise ValueError(f"bit {max(qubits)} does not exist in outcome {outcome!r}")
        key = "".join(bits[len(bits) - 1 - q] for q in reversed(qubits))
        marginal[key] = marginal.get(key, 0) + value
    return marginal


def shannon_entropy(data: Countable, base: float = 2.0) -> float:
    """Shannon entropy of the outcome distribution (bits by default)."""
    return -sum(p * math.log(p, base) for p in probabilities(data).values() if p > 0)


def total_variation_distance(first: Countable, second: Countable) -> float:
    """Half the L1 distance between two distributions (0: equal, 1: disjoint)."""
    p, q = probabilities(first), probabilities(second)
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def hellinger_fidelity(first: Countable, second: Countable) -> float:
    """Hellinger fidelity ``(sum sqrt(p q))**2``, as ``qiskit.quantum_info.hellinger_fidelity``."""
    p, q = probabilities(first), probabilities(second)
    overlap = sum(math.sqrt(p[k] * q[k]) for k in set(p) & set(q))
    return overlap**2


def expectation_value(data: Countable, observable: str | Mapping[str, float]) -> float:
    """Expectation of a Pauli Z/I string (or a weighted sum of them) from counts.

    ``observable`` is Qiskit-ordered like the outcomes: its rightmost character acts on
    bit 0 (``"IZ"`` is Z on bit 0). Only I and Z can be read from counts in the
    computational basis; rotate the circuit for X or Y.
    """
    terms = {observable: 1.0} if isinstance(observable, str) else dict(observable)
    dist = probabilities(data)
    width = len(next(iter(dist)))
    total = 0.0
    for pauli, coefficient in terms.items():
        label = pauli.upper()
        if any(c not in "IZ" for c in label):
            raise ValueError(f"{pauli!r}: only I and Z can be evaluated from counts")
        if len(label) > width:
            raise ValueError(f"{pauli!r} acts on {len(label)} bits; the outcomes have {width}")
        positions = [width - 1 - i for i, c in enumerate(reversed(label)) if c == "Z"]
        value = sum(
            prob * (-1 if sum(outcome[pos] == "1" for pos in positions) % 2 else 1)
            for outcome, prob in dist.items()
        )
        total += coefficient * value
    return total


def most_frequent(data: Countable, top: int = 1) -> list[tuple[str, float]]:
    """The ``top`` outcomes with the highest counts, most frequent first."""
    ranked = sorted(_dist(data).items(), key=lambda item: (-item[1], item[0]))
    return [(outcome, value) for outcome, value in ranked[:top]]


def experiment_summaries(result: JobResult) -> list[dict[str, float | str]]:
    """Per experiment of a result: shots, entropy, most frequent outcome and its share."""
    rows: list[dict[str, float | str]] = []
    for experiment in result.experiments:
        if not experiment.counts:
            continue
        outcome, count = most_frequent(experiment.counts)[0]
        shots = experiment.shots or sum(experiment.counts.values())
        rows.append(
            {
                "shots": shots,
                "entropy": shannon_entropy(experiment.counts),
                "top_outcome": outcome,
                "top_probability": count / shots,
            }
        )
    return rows


def mean_over(results: Iterable[JobResult], observable: str | Mapping[str, float]) -> float:
    """Mean expectation value of ``observable`` over the first experiment of each result."""
    values = [expectation_value(r, observable) for r in results]
    if not values:
        raise ValueError("no results")
    return sum(values) / len(values)
