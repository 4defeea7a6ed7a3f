"""What a run returns besides counts (:mod:`eigen.models.outputs`): each shot's outcome
(``memory``) and the final state (``probabilities``, ``statevector``).

Memory strings follow the counts' convention (classical bit 0 the rightmost character).
The final state is the state the circuit prepares before its final measurements, with the
amplitude of basis state ``i`` at index ``i`` (qubit 0 the least significant bit); it is
simulated noiselessly, so a circuit with a mid-circuit measurement or reset (whose final
state depends on the outcomes drawn) has none, and a noise model is refused at submission.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from eigen.drivers.base import invalid_circuit
from eigen.errors import ExecutionFailed
from eigen.models.outputs import Output
from eigen.models.result import Experiment

DENSE = frozenset({Output.PROBABILITIES, Output.STATEVECTOR})


def wants_dense(outputs: Sequence[Output]) -> bool:
    return not DENSE.isdisjoint(outputs)


def memory_from_hex(memory: Sequence[str], num_clbits: int) -> list[str]:
    """qiskit-aer's per-shot memory (``["0x3", ...]``) as bit strings of ``num_clbits``."""
    fmt = f"0{num_clbits}b"
    return [format(int(shot, 16), fmt) for shot in memory]


def memory_from_bits(bits: npt.NDArray[np.bool_]) -> list[str]:
    """Each row of ``(shots, num_clbits)`` bits as a bit string, column ``k`` = clbit ``k``."""
    if bits.shape[1] == 0:
        return [""] * bits.shape[0]
    characters = np.where(bits[:, ::-1], "1", "0")
    return ["".join(row) for row in characters.tolist()]


def final_circuit(circuit: Any) -> Any:
    """``circuit`` without its final measurements: the circuit whose state the dense outputs
    report. INVALID_ARGUMENT when a measurement or reset is left (it is mid-circuit)."""
    unitary = circuit.remove_final_measurements(inplace=False)
    leftover = sorted({"measure", "reset"} & set(unitary.count_ops()))
    if leftover:
        raise invalid_circuit(
            f"probabilities and statevector need a circuit without mid-circuit {' or '.join(leftover)}"
        )
    return unitary


def with_final_state(
    experiment: Experiment, state: npt.NDArray[np.complexfloating[Any, Any]], outputs: Sequence[Output]
) -> Experiment:
    """``experiment`` with the dense outputs asked for, from its final ``state``."""
    vector = np.asarray(state, dtype=np.complex128).ravel()
    if Output.PROBABILITIES in outputs:
        experiment.probabilities = (np.abs(vector) ** 2).tolist()
    if Output.STATEVECTOR in outputs:
        experiment.statevector = vector.tolist()
    return experiment


def aer_final_states(
    simulator: Any, circuit: Any, table: dict[Any, list[float]], runs: int, device: str
) -> list[npt.NDArray[np.complex128]]:
    """The final state of each of ``runs`` bindings (``table``: aer's parameter_binds) of
    ``circuit``, from one aer call that saves the state before the final measurements."""
    saving = final_circuit(circuit).copy()
    saving.save_statevector(label="eigen_state")
    options: dict[str, Any] = {"shots": 1}
    if table:
        options["parameter_binds"] = [table]
    circuits = [saving] if table else [saving] * max(1, runs)
    try:
        result = simulator.run(circuits, **options).result()
    except Exception as exc:
        raise ExecutionFailed(f"{device}: simulating the final state failed: {exc}") from exc
    if not result.success:
        raise ExecutionFailed(f"{device}: simulating the final state failed: {result.status}")
    return [np.asarray(result.data(i)["eigen_state"]) for i in range(len(result.results))]
