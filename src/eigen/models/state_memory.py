"""How much memory a simulator run needs: its state, and the engine's work besides.

A state-vector engine holds 2^n amplitudes of an n-qubit circuit: 16 bytes each in
complex128 (qiskit-aer), 8 in complex64 (qsim); aer's density-matrix method, which a noisy
circuit of up to :data:`DENSITY_MATRIX_QUBITS` qubits runs on, holds 4^n entries of 16
bytes. Each engine needs some memory besides (work buffers, the sampled shots, the circuit
in its own form): :data:`AER_OVERHEAD` and :data:`QSIM_OVERHEAD`, measured by
``benchmarks/engine_memory.py`` (the figures are in benchmarks/README.md).

A device says which state it holds in :attr:`DeviceInfo.state_memory
<eigen.models.target.DeviceInfo.state_memory>` (a :class:`StateMemory` value). The kernel
counts :func:`run_need` against the worker's memory when a job is submitted
(:mod:`eigen.kernel.memory_admission`), and the driver-manager reserves it while a run holds
it (:mod:`eigen.drivers.memory_budget`), so that no job, alone or beside others, takes the
server down by memory. This module only computes: it reads nothing and imports no engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eigen.errors import ResourceExhausted

#: Up to this width a noisy circuit on aer runs on the density-matrix method (16 MiB at 10
#: qubits, 4x per extra qubit); wider ones simulate one state vector per trajectory.
DENSITY_MATRIX_QUBITS = 10


class StateMemory(StrEnum):
    """What a device's engine holds in the worker's memory for one run."""

    COMPLEX128 = "complex128"  # aer's state vector; a noisy narrow circuit: its density matrix
    COMPLEX64 = "complex64"  # qsim's state vector
    #: sim:statevector: complex64 (qsim) for a circuit qsim can run, else complex128 (aer)
    LEAST = "complex64|complex128"
    DENSITY = "density"  # a density matrix always (the noisy emulators on aer)
    GPU = "gpu"  # the state is in GPU memory: none of the worker's memory counts
    NONE = "none"  # negligible (a stabilizer tableau, a QPU) or not modelled (a plugin)


@dataclass(frozen=True)
class EngineOverhead:
    """An engine's memory beyond its states: ``fixed_bytes`` (work buffers, the circuit in
    the engine's form) and ``per_shot_bytes`` for each shot sampled (the outcomes and their
    counts until the result is built)."""

    fixed_bytes: int
    per_shot_bytes: int

    def bytes(self, shots: int) -> int:
        return self.fixed_bytes + self.per_shot_bytes * max(0, shots)


_MIB = 1 << 20
#: qiskit-aer (state vector and density matrix): what ``benchmarks/engine_memory.py``
#: measured beyond the state (benchmarks/README.md, "memory"), rounded up with a margin.
AER_OVERHEAD = EngineOverhead(fixed_bytes=16 * _MIB, per_shot_bytes=256)
#: qsim with the OpenQASM 2 round trip, measured and rounded up the same way.
QSIM_OVERHEAD = EngineOverhead(fixed_bytes=16 * _MIB, per_shot_bytes=256)
NO_OVERHEAD = EngineOverhead(fixed_bytes=0, per_shot_bytes=0)

_FORMS = {
    StateMemory.COMPLEX128: "complex128 state vector",
    StateMemory.COMPLEX64: "complex64 state vector",
    StateMemory.DENSITY: "complex128 density matrix",
}


@dataclass(frozen=True)
class StateNeed:
    """The bytes one run needs: ``states`` states of ``kind`` (each ``state_bytes``) and
    the engine's overhead; what a refusal names."""

    kind: StateMemory
    num_qubits: int
    state_bytes: int
    overhead_bytes: int
    states: int = 1

    @property
    def bytes(self) -> int:
        return self.states * self.state_bytes + self.overhead_bytes

    def describe(self) -> str:
        """E.g. ``4.2 GiB for a 28-qubit complex128 state vector`` (overhead included)."""
        if self.kind not in _FORMS:
            return f"{format_bytes(self.bytes)} for a {self.num_qubits}-qubit circuit"
        what = f"{self.num_qubits}-qubit {_FORMS[self.kind]}"
        if self.states > 1:
            return f"{format_bytes(self.bytes)} for {self.states} {what}s at once"
        return f"{format_bytes(self.bytes)} for a {what}"


def state_bytes(kind: StateMemory, num_qubits: int) -> int:
    """The bytes of one ``num_qubits``-qubit state of ``kind`` alone (no overhead);
    :attr:`StateMemory.LEAST` counts as complex64."""
    if kind is StateMemory.COMPLEX128:
        return 16 << num_qubits
    if kind in (StateMemory.COMPLEX64, StateMemory.LEAST):
        return 8 << num_qubits
    if kind is StateMemory.DENSITY:
        return 16 << (2 * num_qubits)
    return 0


def run_need(
    kind: StateMemory | str,
    num_qubits: int,
    *,
    shots: int = 0,
    noisy: bool = False,
    complex64_runs: bool = True,
    states: int = 1,
) -> StateNeed:
    """What one run of a ``num_qubits``-qubit circuit needs on a device of ``kind``.

    ``shots``: sampled over the run's experiments; ``noisy``: with a noise model (aer then
    runs a circuit of up to :data:`DENSITY_MATRIX_QUBITS` qubits on its density matrix, and
    qsim runs nothing); ``complex64_runs``: whether the complex64 engine can run the
    circuit (for :attr:`StateMemory.LEAST`; false also for exact estimation, which aer
    computes); ``states``: states held at once (aer running experiments in parallel)."""
    kind = StateMemory(kind)
    if kind is StateMemory.LEAST:
        kind = StateMemory.COMPLEX64 if complex64_runs and not noisy else StateMemory.COMPLEX128
    if kind is StateMemory.COMPLEX128 and noisy and num_qubits <= DENSITY_MATRIX_QUBITS:
        kind = StateMemory.DENSITY
    one = state_bytes(kind, num_qubits)
    if kind is StateMemory.COMPLEX64:
        overhead = QSIM_OVERHEAD
    elif kind in (StateMemory.COMPLEX128, StateMemory.DENSITY):
        overhead = AER_OVERHEAD
    else:
        overhead = NO_OVERHEAD
    states = max(1, states)
    return StateNeed(kind, num_qubits, one, overhead.bytes(shots) if one else 0, states)


#: The setting that sets the limit, as a refusal names it.
LIMIT_SETTING = "worker_memory_bytes"


def over_limit(device: str, need: StateNeed, limit: int, subject: str = "the job needs") -> ResourceExhausted:
    """The refusal of a run of ``need`` over the worker's memory ``limit`` (metadata:
    ``limit``, ``value`` the limit's bytes, ``needed_bytes``)."""
    return ResourceExhausted(
        f"{device}: {subject} {need.describe()}, above this worker's memory limit of "
        f"{format_bytes(limit)} (setting {LIMIT_SETTING}, EIGEN_{LIMIT_SETTING.upper()}); "
        "use fewer qubits, or raise the limit on a machine with the memory",
        metadata={"limit": LIMIT_SETTING, "value": str(limit), "needed_bytes": str(need.bytes)},
    )


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def format_bytes(count: int) -> str:
    """``count`` bytes for a person: ``512 B``, ``16.0 KiB``, ``4.0 GiB`` (binary units)."""
    if count < 1024:
        return f"{count} B"
    value = float(count)
    step = 0
    while value >= 1024 and step < len(_UNITS) - 1:
        value /= 1024
        step += 1
    return f"{value:.1f} {_UNITS[step]}"
