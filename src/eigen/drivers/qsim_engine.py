"""qsim (qsimcirq) as an engine for Qiskit circuits: float32 state vectors on all cores or a GPU.

A Qiskit circuit reaches qsim through two maintained converters: Qiskit's OpenQASM 2
exporter (``qiskit.qasm2.dumps``) and cirq's OpenQASM 2 importer
(``cirq.contrib.qasm_import``); gates outside ``qelib1.inc`` travel as ``gate``
definitions, which cirq expands. qsimcirq then runs the cirq circuit: with measurements at
the end only, it simulates the state once and samples every shot from it.

Measurement keys: cirq's importer names the result of ``measure q[i] -> c[j]`` ``c_j``
(register name, underscore, index), so each Qiskit clbit is found again under the key of
its register and index, and the counts keep Qiskit's order (clbit 0 rightmost). A clbit
that no measurement writes reads 0, as in aer.

What qsim cannot run (:func:`qsim_refusal`): noise, a measurement followed by a gate on
the same qubit (mid-circuit measurement), reset, control flow and classically controlled
operations, and any instruction outside :data:`QSIM_OPERATIONS`. Those circuits stay on aer.

Seeds: a seeded :class:`qsimcirq.QSimSimulator` samples the same counts for the same seed
and circuit, on one machine and engine build; its counts differ from aer's for the same
seed (same distribution, another random stream).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eigen.drivers import counts
from eigen.drivers.outputs import final_circuit, memory_from_bits
from eigen.errors import ExecutionFailed

#: Instructions qsim runs through the QASM 2 path (the statevector basis less reset;
#: barrier is exported and ignored). Anything else goes to aer.
QSIM_OPERATIONS = frozenset(
    {
        "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg",
        "rx", "ry", "rz", "p", "u",
        "cx", "cy", "cz", "cp", "crx", "cry", "crz", "swap", "rxx", "ryy", "rzz",
        "ccx", "cswap", "measure", "barrier",
    }
)  # fmt: skip


def qsim_refusal(circuit: Any) -> str | None:
    """Why qsim cannot run ``circuit`` (a short reason), or None when it can.

    Refused: an instruction outside :data:`QSIM_OPERATIONS` (reset, control flow, delay,
    ...), a classical bit outside any register (no QASM 2 name), a qubit measured twice, a
    clbit written twice, or a gate after a measurement on the same qubit.
    """
    names = set(circuit.count_ops())
    outside = sorted(names - QSIM_OPERATIONS)
    if outside:
        return f"instructions qsim does not run: {', '.join(outside)}"
    if any(not circuit.find_bit(bit).registers for bit in circuit.clbits):
        return "a classical bit outside any register"
    measured: set[Any] = set()
    written: set[Any] = set()
    for instruction in circuit.data:
        name = instruction.operation.name
        if name == "barrier":
            continue
        if name == "measure":
            qubit, clbit = instruction.qubits[0], instruction.clbits[0]
            if qubit in measured or clbit in written:
                return "a qubit or classical bit measured twice"
            measured.add(qubit)
            written.add(clbit)
        elif measured.intersection(instruction.qubits):
            return "a gate after a measurement (mid-circuit measurement)"
    return None


def default_threads() -> int:
    """Every core this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _key_columns(circuit: Any) -> list[tuple[str, int]]:
    """For clbit ``k`` of ``circuit``: cirq's measurement key of it and the bit's index there."""
    columns = []
    for bit in circuit.clbits:
        register, index = circuit.find_bit(bit).registers[0]
        columns.append((f"{register.name}_{index}", 0))
    return columns


@dataclass(frozen=True)
class QsimRun:
    """Counts of one circuit, and the seconds qsim's own run took (conversion apart)."""

    counts: dict[str, int]
    convert_s: float
    run_s: float
    memory: list[str] = field(default_factory=list)  # each shot, when asked for


class QsimEngine:
    """One qsimcirq simulator, reused: ``threads`` CPU threads, or the GPU (``use_gpu``)."""

    def __init__(self, *, threads: int | None = None, use_gpu: bool = False) -> None:
        import qsimcirq  # heavy (cirq): imported when an engine is built, not with the module

        self.use_gpu = use_gpu
        self.threads = threads or default_threads()
        self._options = qsimcirq.QSimOptions(cpu_threads=self.threads, use_gpu=use_gpu)
        self._qsimcirq = qsimcirq
        self._lock = threading.Lock()  # qsim's simulator object is not shared across threads

    @property
    def name(self) -> str:
        return "qsim-gpu" if self.use_gpu else "qsim"

    def to_cirq(self, circuit: Any) -> Any:
        """The cirq circuit of a bound Qiskit circuit, through OpenQASM 2. Barriers are
        dropped first: they do nothing to a simulation and cirq's importer has no such gate."""
        from cirq.contrib.qasm_import import circuit_from_qasm
        from qiskit import qasm2
        from qiskit.transpiler.passes import RemoveBarriers

        return circuit_from_qasm(qasm2.dumps(RemoveBarriers()(circuit)))

    def run(self, circuit: Any, shots: int, seed: int, *, memory: bool = False) -> QsimRun:
        """Sample ``shots`` shots of a bound ``circuit`` (checked by :func:`qsim_refusal`);
        with ``memory``, each shot's outcome too."""
        from time import perf_counter

        start = perf_counter()
        try:
            program = self.to_cirq(circuit)
        except Exception as exc:  # QASM export or import refused the circuit
            raise ExecutionFailed(f"{self.name}: the circuit could not be converted: {exc}") from exc
        converted = perf_counter()
        simulator = self._qsimcirq.QSimSimulator(self._options, seed=seed)
        try:
            with self._lock:
                result = simulator.run(program, repetitions=shots)
        except Exception as exc:
            raise ExecutionFailed(f"{self.name}: simulation failed: {exc}") from exc
        ran = perf_counter()
        bits = self._bits(circuit, result.measurements, shots)
        return QsimRun(
            counts.from_bits(bits) if bits.shape[1] else {},
            converted - start,
            ran - converted,
            memory_from_bits(bits) if memory else [],
        )

    def final_state(self, circuit: Any) -> Any:
        """The state a bound ``circuit`` prepares before its final measurements, indexed as
        Qiskit does (qubit 0 the least significant bit; cirq's is the most significant).
        Equal to Qiskit's up to a global phase: OpenQASM 2, the way to cirq, keeps none, and
        cirq's ``u``/``u1`` differ from Qiskit's by one (sim:aer gives Qiskit's phase)."""
        import cirq

        unitary = final_circuit(circuit)
        try:
            program = self.to_cirq(unitary)
        except Exception as exc:
            raise ExecutionFailed(f"{self.name}: the circuit could not be converted: {exc}") from exc
        order = []
        for qubit in reversed(unitary.qubits):
            register, index = unitary.find_bit(qubit).registers[0]
            order.append(cirq.NamedQubit(f"{register.name}_{index}"))
        try:
            with self._lock:
                result = self._qsimcirq.QSimSimulator(self._options).simulate(program, qubit_order=order)
        except Exception as exc:
            raise ExecutionFailed(f"{self.name}: simulation failed: {exc}") from exc
        return result.final_state_vector

    @staticmethod
    def _bits(circuit: Any, measurements: Mapping[str, Any], shots: int) -> Any:
        """The shots as a boolean array ``(shots, num_clbits)``, column ``k`` = clbit ``k``."""
        import numpy as np

        bits = np.zeros((shots, circuit.num_clbits), dtype=np.bool_)
        for k, (key, column) in enumerate(_key_columns(circuit)):
            values = measurements.get(key)
            if values is not None:
                bits[:, k] = values[:, column].astype(np.bool_)
        return bits
