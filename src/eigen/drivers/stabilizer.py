"""``sim:stabilizer``: Clifford circuits on many qubits, sampled with stim.

Width: 10,000 qubits. stim's cost grows with qubits squared (tableau) for the reference
sample and linearly per gate and shot after it, so 10,000 qubits is still seconds; the
limit keeps a single request bounded, not stim.

A non-Clifford gate raises :class:`~eigen.errors.InvalidArgument` naming the gate and its
position. Parameters are accepted when bound to multiples of pi/2. Experiment ``i`` of a
sweep is sampled with seed ``seed + i``.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, ClassVar

import numpy as np
import stim

from eigen.drivers import counts
from eigen.drivers.base import Driver, Observable
from eigen.drivers.binding import bind_all
from eigen.drivers.outputs import memory_from_bits
from eigen.drivers.seeding import choose_seed
from eigen.drivers.stim_circuit import StimProgram, to_stim
from eigen.errors import InvalidArgument
from eigen.models.compiled import ExecutionRequest
from eigen.models.outputs import Output
from eigen.models.result import ExecutionResult, Experiment
from eigen.models.state_memory import StateMemory
from eigen.models.target import DeviceInfo

NUM_QUBITS = 10_000

#: The Clifford set, plus ``rz``: with it the qiskit transpiler can lower Clifford gates
#: outside the set (ecr, rotations by multiples of pi/2); an rz whose angle is not a multiple
#: of pi/2 is rejected at run time. ``barrier`` is accepted but not listed: it is a
#: directive, and qiskit's ``transpile(basis_gates=...)`` refuses it as a basis gate.
BASIS_GATES: tuple[str, ...] = (
    "id", "x", "y", "z", "h", "s", "sdg", "sx", "sxdg", "rz",
    "cx", "cy", "cz", "swap", "measure", "reset",
)  # fmt: skip

#: Most measurement bits sampled at once (64 MiB as unpacked booleans).
SAMPLE_CHUNK_BITS = 2**26
_SEED_MASK = 2**64 - 1
_PAULI_CHARS = frozenset("IXYZ")


def _warm_up() -> None:
    """Take one sample of each kind now, on import: stim (1.16) deadlocks when two threads
    take a process's very first sample at the same time, which a server's first
    concurrent stabilizer jobs would (tests/unit/drivers/test_stim_first_sample.py)."""
    sampler = stim.Circuit("M 0").compile_sampler(seed=0)
    sampler.sample(1, bit_packed=True)
    sampler.sample(1)


_warm_up()


def sample_counts(program: StimProgram, shots: int, seed: int) -> dict[str, int]:
    """Sample ``program`` and count outcomes per classical bit, in Qiskit order.

    Shots are drawn in chunks of at most ``SAMPLE_CHUNK_BITS`` measurement bits, so a wide
    circuit with many shots does not hold every sample in memory at once.
    """
    num_clbits = len(program.clbit_records)
    if num_clbits == 0:
        return {}
    sampler = program.circuit.compile_sampler(seed=seed & _SEED_MASK)
    chunk = max(1, SAMPLE_CHUNK_BITS // max(1, program.num_measurements))
    total: dict[str, int] = {}
    for start in range(0, shots, chunk):
        part = _count_chunk(program, sampler, min(chunk, shots - start), num_clbits)
        if not total:
            total = part
            continue
        for key, n in part.items():
            total[key] = total.get(key, 0) + n
    return total


def _count_chunk(
    program: StimProgram, sampler: stim.CompiledMeasurementSampler, shots: int, num_clbits: int
) -> dict[str, int]:
    if program.identity_records:
        return counts.from_packed(sampler.sample(shots, bit_packed=True), num_clbits)
    return counts.from_bits(_clbits(program, sampler.sample(shots)))


def _clbits(program: StimProgram, samples: np.ndarray) -> np.ndarray:
    """Measurement samples ``(shots, measurements)`` as clbit values ``(shots, num_clbits)``."""
    records = np.asarray(program.clbit_records)
    written = np.flatnonzero(records >= 0)
    bits = np.zeros((samples.shape[0], len(records)), dtype=np.bool_)
    bits[:, written] = samples[:, records[written]]
    return bits


def sample_memory(program: StimProgram, shots: int, seed: int) -> tuple[dict[str, int], list[str]]:
    """Counts and each shot's outcome of ``program``, from one draw (the shots of a job that
    asks for memory are bounded by ``eigen.models.outputs.MEMORY_MAX_SHOTS``)."""
    if not program.clbit_records:
        return {}, [""] * shots
    sampler = program.circuit.compile_sampler(seed=seed & _SEED_MASK)
    bits = _clbits(program, sampler.sample(shots))
    return counts.from_bits(bits), memory_from_bits(bits)


class StabilizerDriver(Driver):
    name: ClassVar[str] = "sim:stabilizer"

    def __init__(self) -> None:
        self._info = DeviceInfo(
            name=self.name,
            num_qubits=NUM_QUBITS,
            basis_gates=BASIS_GATES,
            coupling_map=None,
            simulator=True,
            noisy=False,
            clifford_only=True,
            description="Clifford (stabilizer) simulator (stim), all-to-all, noiseless",
            aliases=self.aliases,
            state_memory=StateMemory.NONE,  # a tableau: quadratic in the width, not exponential
        )

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        self.check_request(request)
        seed = choose_seed(request.seed)
        bindings = request.parameter_bindings
        start = perf_counter()
        circuits = bind_all(request.circuit, bindings)
        experiments: list[Experiment] = []
        previous: tuple[Any, StimProgram] | None = None
        for i, circuit in enumerate(circuits):
            if previous is None or previous[0] is not circuit:
                previous = (circuit, to_stim(circuit, self.name))
            if Output.MEMORY in request.outputs:
                drawn, memory = sample_memory(previous[1], request.shots, seed + i)
            else:
                drawn, memory = sample_counts(previous[1], request.shots, seed + i), []
            experiments.append(
                Experiment(
                    counts=drawn,
                    shots=request.shots,
                    bindings=dict(bindings[i]) if bindings else {},
                    memory=memory,
                )
            )
        return ExecutionResult(
            backend=self.name,
            experiments=experiments,
            seed=seed,
            timings={"execute_s": perf_counter() - start},
            engine="stim",
        )

    def estimate(
        self,
        circuit: Any,
        observables: list[Observable],
        bindings: list[dict[str, float]],
    ) -> list[list[float]]:
        """Exact Pauli expectation values of a Clifford state (each term is -1, 0 or +1)."""
        unitary = circuit.remove_final_measurements(inplace=False)
        leftover = sorted({"measure", "reset"} & set(unitary.count_ops()))
        if leftover:
            raise InvalidArgument.for_field(
                "circuit",
                f"exact estimation needs a circuit without mid-circuit {' or '.join(leftover)}",
            )
        width = unitary.num_qubits
        paulis = [_pauli_terms(obs, width, k) for k, obs in enumerate(observables)]
        values: list[list[float]] = []
        for bound in bind_all(unitary, bindings):
            simulator = stim.TableauSimulator()
            simulator.set_num_qubits(width)
            simulator.do_circuit(to_stim(bound, self.name).circuit)
            values.append(
                [sum(w * simulator.peek_observable_expectation(p) for p, w in terms) for terms in paulis]
            )
        return values


def _pauli_terms(observable: Observable, width: int, index: int) -> list[tuple[stim.PauliString, float]]:
    terms: list[tuple[stim.PauliString, float]] = []
    for label, weight in observable:
        if len(label) != width or not set(label) <= _PAULI_CHARS:
            raise InvalidArgument.for_field(
                f"observables[{index}]",
                f"Pauli label {label!r} must be {width} characters of I, X, Y, Z",
            )
        # Qiskit labels put qubit 0 rightmost; stim's PauliString puts it first.
        terms.append((stim.PauliString(label[::-1]), float(weight)))
    return terms
