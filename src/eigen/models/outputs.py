"""What a job's experiments return, and how much of it one result may hold.

``counts`` (outcome -> number of shots) is what every circuit job returns unless it asks
otherwise. ``memory`` adds each shot's outcome in shot order; ``probabilities`` the final
state's probability of every basis state; ``statevector`` its amplitudes. Both dense
vectors are indexed by the basis state as an integer, qubit 0 the least significant bit
(Qiskit's order, the order of the counts' bit strings read from the right).

Each output has a size limit, checked at submission (:func:`check_outputs`): a result is
built in the worker's memory and stored whole, so these limits are also what bounds the
memory of the worker and of the api node serving it (a dense vector of 2^20 amplitudes is
16 MiB; the stored JSON about three times that). A request beyond a limit is
INVALID_ARGUMENT naming ``outputs`` and the limit, before anything is stored.
"""

from __future__ import annotations

from enum import StrEnum

from eigen.errors import InvalidArgument


class Output(StrEnum):
    COUNTS = "counts"
    MEMORY = "memory"
    PROBABILITIES = "probabilities"
    STATEVECTOR = "statevector"


DEFAULT_OUTPUTS: tuple[Output, ...] = (Output.COUNTS,)

#: Shots over all experiments of a job that may return their per-shot memory.
MEMORY_MAX_SHOTS = 1_048_576
#: Widest circuit whose probabilities or state vector may be returned (2^20 values per experiment).
DENSE_MAX_QUBITS = 20
#: Dense values (probabilities and amplitudes) over all experiments of a job.
DENSE_MAX_VALUES = 1 << 21


def check_outputs(outputs: tuple[Output, ...], *, width: int, shots: int, runs: int) -> None:
    """Refuse ``outputs`` of ``runs`` experiments of a ``width``-qubit circuit with ``shots``
    shots each when they are over a limit (INVALID_ARGUMENT, field ``outputs``)."""
    runs = max(1, runs)
    if Output.MEMORY in outputs and shots * runs > MEMORY_MAX_SHOTS:
        raise InvalidArgument.for_field(
            "outputs",
            f"memory of {shots * runs:,} shots ({runs} experiments x {shots}) is above the limit of "
            f"{MEMORY_MAX_SHOTS:,} shots per job; ask for counts, or fewer shots",
        )
    dense = [o.value for o in outputs if o in (Output.PROBABILITIES, Output.STATEVECTOR)]
    if not dense:
        return
    if width > DENSE_MAX_QUBITS:
        raise InvalidArgument.for_field(
            "outputs",
            f"{' and '.join(dense)} of a {width}-qubit circuit: at most {DENSE_MAX_QUBITS} qubits "
            f"({1 << DENSE_MAX_QUBITS:,} values); ask for counts instead",
        )
    values = len(dense) * runs * (1 << width)
    if values > DENSE_MAX_VALUES:
        raise InvalidArgument.for_field(
            "outputs",
            f"{' and '.join(dense)} of {runs} experiments of {width} qubits are {values:,} values, "
            f"above the limit of {DENSE_MAX_VALUES:,} per job; use fewer bindings",
        )
