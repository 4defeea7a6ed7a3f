"""``sim:statevector``: exact state-vector simulation, on qsim or qiskit-aer per circuit.

Each request runs on the engine :func:`eigen.drivers.engine_choice.choose_engine` picks:
qsim (qsimcirq, float32, all cores) where its cost model says qsim is faster (wide
circuits), aer otherwise (small circuits, and whatever qsim cannot run: noise, mid-circuit
measurement, reset, control flow). The result's timings name the engine that ran
(``qsim_s`` or ``aer_s``). ``sim:aer`` (:class:`AerStatevectorDriver`) is the same device
on aer always; ``sim:qsim`` (:mod:`eigen.drivers.qsim`) on qsim always.

Memory: the registry tells the driver the worker's memory limit (``memory_limit``) and
reserves what a run holds (:meth:`StatevectorDriver.memory_need`, the engine it will pick)
before it runs (:mod:`eigen.drivers.memory_budget`). A circuit whose complex128 state does
not fit in the limit runs on qsim's complex64 one where qsim can run it, whatever the cost
model says, so the device refuses only what no engine of it holds.

On aer: noiseless unless a request names a noise model (``noise_model="depolarizing:0.001"``,
:mod:`eigen.drivers.noise`): then its shots run on aer's noise model of it. A noisy
circuit of up to ``DENSITY_MATRIX_QUBITS`` qubits runs on aer's density-matrix method: the
noise is applied to the state once and the shots are sampled from it, where state vectors
would simulate one noisy trajectory per shot (2 qubits, 8192 shots: 0.14 s instead of
2.4 s). Wider ones, and gates that method lacks (crx, cry, crz, cswap), use trajectories.
Either way the seed fixes the counts. Exact estimation
(:meth:`StatevectorDriver.estimate`) is always noiseless.

Width: 28 qubits. A 28-qubit state vector in complex128 takes 4 GiB (each extra qubit
doubles it), which is as far as the standard 2-vCPU / 23 GiB machine goes with room for
aer's work buffers and several jobs; runtime at that width is minutes per circuit anyway.

The basis is a broad set of standard gates that aer runs natively, so a circuit compiled
for this device stays readable. ``run`` never transpiles: one ``AerSimulator`` is built
once and reused, and each request is a single ``run()`` call.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, ClassVar

from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer import AerSimulator
from qiskit_aer.library import SaveExpectationValue

from eigen.drivers.aer_driver import DIRECTIVES, AerDriver
from eigen.drivers.aer_tuning import run_options
from eigen.drivers.base import Observable, invalid_circuit
from eigen.drivers.binding import sweep_table
from eigen.drivers.engine_choice import QSIM, Choice, choose_engine
from eigen.drivers.memory_budget import parallel_states, total_shots
from eigen.drivers.qsim import EngineHolder, run_on_qsim
from eigen.errors import ExecutionFailed, InvalidArgument
from eigen.models.outputs import Output
from eigen.models.state_memory import DENSITY_MATRIX_QUBITS, StateMemory, StateNeed, run_need
from eigen.models.target import DeviceInfo

if TYPE_CHECKING:
    from eigen.models.compiled import ExecutionRequest
    from eigen.models.result import ExecutionResult

logger = logging.getLogger(__name__)

NUM_QUBITS = 28
PREPARED_CACHE = 32  # estimation circuits kept ready, by (circuit, observables)
SMALL_CIRCUIT_QUBITS = 12  # up to this width, exact estimation uses qiskit's Statevector
# DENSITY_MATRIX_QUBITS (eigen.models.state_memory): up to this width a noisy circuit runs
# on the density-matrix method (at 12 qubits it is no faster than trajectories).


@dataclass(frozen=True)
class _Prepared:
    source: Any  # the circuit it was prepared from (identity-checked on reuse)
    unitary: Any  # without final measurements
    operators: list[SparsePauliOp]
    saving: Any  # unitary + save_expectation_value per observable (aer)
    labels: list[str]


def _states(unitary: Any, table: dict[Any, list[float]], runs: int) -> list[Statevector]:
    if not table:
        return [Statevector(unitary)] * runs
    count = len(next(iter(table.values())))
    return [Statevector(unitary.assign_parameters({p: v[i] for p, v in table.items()})) for i in range(count)]


#: Standard gates aer runs natively. ``barrier`` runs too but is not listed: it is a
#: directive, and qiskit's ``transpile(basis_gates=...)`` refuses it as a basis gate.
BASIS_GATES: tuple[str, ...] = (
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg",
    "rx", "ry", "rz", "p", "u",
    "cx", "cy", "cz", "cp", "crx", "cry", "crz", "swap", "rxx", "ryy", "rzz",
    "ccx", "cswap",
    "measure", "reset",
)  # fmt: skip

_PAULI_CHARS = frozenset("IXYZ")


def pauli_operator(observable: Observable, num_qubits: int, index: int) -> SparsePauliOp:
    """A :class:`SparsePauliOp` from weighted Pauli labels (Qiskit order, qubit 0 rightmost)."""
    field_path = f"observables[{index}]"
    if not observable:
        raise InvalidArgument.for_field(field_path, "an observable needs at least one term")
    terms: list[tuple[str, float]] = []
    for label, coeff in observable:
        if len(label) != num_qubits or not set(label) <= _PAULI_CHARS:
            raise InvalidArgument.for_field(
                field_path,
                f"Pauli label {label!r} must be {num_qubits} characters of I, X, Y, Z (the circuit width)",
            )
        try:
            weight = float(coeff)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument.for_field(
                field_path, f"weight of {label!r} must be a real number, got {coeff!r}"
            ) from exc
        if not math.isfinite(weight):
            raise InvalidArgument.for_field(field_path, f"weight of {label!r} must be finite")
        terms.append((label, weight))
    return SparsePauliOp.from_list(terms)


class StatevectorDriver(AerDriver):
    name: ClassVar[str] = "sim:statevector"
    aliases: ClassVar[tuple[str, ...]] = ("sim:local",)
    description: ClassVar[str] = (
        "Exact state-vector simulator (qsim or qiskit-aer, chosen per circuit), all-to-all, noiseless"
    )
    #: Whether :meth:`run` may send a circuit to qsim (False: aer always, ``sim:aer``).
    chooses_engine: ClassVar[bool] = True

    def __init__(self) -> None:
        self._qsim = EngineHolder() if self.chooses_engine and find_spec("qsimcirq") is not None else None
        self._simulator = AerSimulator(method="statevector")
        self._density_matrix = AerSimulator(method="density_matrix")
        self._density_accepted = frozenset(self._density_matrix.target.operation_names) | DIRECTIVES
        self._lock = threading.Lock()
        self._prepared: OrderedDict[tuple[Any, ...], _Prepared] = OrderedDict()
        self._accepted = frozenset(self._simulator.target.operation_names) | DIRECTIVES
        #: the bytes a run may hold (set by the registry from worker_memory_bytes); None: unbounded
        self.memory_limit: int | None = None
        self._info = DeviceInfo(
            name=self.name,
            num_qubits=NUM_QUBITS,
            basis_gates=BASIS_GATES,
            coupling_map=None,
            simulator=True,
            noisy=False,
            description=self.description,
            aliases=self.aliases,
            state_memory=StateMemory.LEAST if self._qsim is not None else StateMemory.COMPLEX128,
        )

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def simulator(self) -> AerSimulator:
        return self._simulator

    def simulator_for(self, circuit: Any, noisy: bool) -> AerSimulator:
        """The density-matrix simulator for a noisy circuit it can run of up to
        ``DENSITY_MATRIX_QUBITS`` qubits, else the state-vector one."""
        if (
            noisy
            and circuit.num_qubits <= DENSITY_MATRIX_QUBITS
            and set(circuit.count_ops()) <= self._density_accepted
        ):
            return self._density_matrix
        return self._simulator

    def accepted_operations(self) -> frozenset[str]:
        return self._accepted

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        """On the engine the cost model picks for this circuit (module docstring)."""
        if self._qsim is None:
            return super().run(request)
        self.check_request(request)
        choice = self._choice(request, self.memory_limit)
        logger.debug(
            "engine chosen",
            extra={
                "device": self.name,
                "engine": choice.engine,
                "reason": choice.reason,
                "num_qubits": request.circuit.num_qubits,
            },
        )
        if choice.engine != QSIM:
            return super().run(request)
        self.check_circuit(request.circuit)
        return run_on_qsim(self._qsim.get(), request, self.name)

    def _aer_states(self, request: ExecutionRequest) -> int:
        runs = max(1, len(request.parameter_bindings))
        return parallel_states(run_options(request.circuit, runs), runs)

    def _choice(self, request: ExecutionRequest, memory_limit: int | None) -> Choice:
        """The engine for ``request`` (engine_choice.py), within ``memory_limit``."""
        return choose_engine(
            request.circuit,
            runs=max(1, len(request.parameter_bindings)),
            noisy=request.noise_model is not None,
            qsim_available=self._qsim is not None,
            memory_limit=memory_limit,
            shots=total_shots(request),
            aer_states=self._aer_states(request),
            exact_phase=Output.STATEVECTOR in request.outputs,
        )

    def memory_need(self, request: ExecutionRequest, memory_limit: int | None) -> StateNeed:
        """What ``request`` holds on the engine :meth:`run` picks for it within ``memory_limit``
        (:attr:`memory_limit` where this driver runs it)."""
        width = int(request.circuit.num_qubits)
        if self._qsim is not None and self._choice(request, memory_limit).engine == QSIM:
            return run_need(StateMemory.COMPLEX64, width, shots=total_shots(request))
        return run_need(
            StateMemory.COMPLEX128,
            width,
            shots=total_shots(request),
            noisy=request.noise_model is not None,
            states=self._aer_states(request),
        )

    def estimate(
        self,
        circuit: Any,
        observables: list[Observable],
        bindings: list[dict[str, float]],
    ) -> list[list[float]]:
        """Exact expectation values of ``circuit`` without its final measurements.

        Small circuits (up to ``SMALL_CIRCUIT_QUBITS``) use qiskit's ``Statevector``, whose
        per-call cost is far below an aer run's; larger ones run all bindings in one aer call
        with ``save_expectation_value`` on the final state. No sampling, no shot noise.
        """
        runs = max(1, len(bindings))
        if not observables:
            return [[] for _ in range(runs)]
        prepared = self._prepared_for(circuit, observables)
        table = sweep_table(prepared.unitary, bindings)
        if prepared.unitary.num_qubits <= SMALL_CIRCUIT_QUBITS:
            return [
                [float(state.expectation_value(op).real) for op in prepared.operators]
                for state in _states(prepared.unitary, table, runs)
            ]
        options: dict[str, Any] = {"shots": 1}
        if table:
            options["parameter_binds"] = [table]
        try:
            result = self._simulator.run([prepared.saving], **options).result()
        except Exception as exc:
            raise ExecutionFailed(f"{self.name}: estimation failed: {exc}") from exc
        if not result.success:
            raise ExecutionFailed(f"{self.name}: estimation failed: {result.status}")
        labels = prepared.labels
        values = [[float(result.data(i)[label].real) for label in labels] for i in range(len(result.results))]
        return values if table else values * runs

    def _prepared_for(self, circuit: Any, observables: list[Observable]) -> _Prepared:
        """Built once per (circuit, observables) and reused: a variational loop estimates the
        same circuit with new bindings hundreds of times."""
        key = (id(circuit), tuple(tuple(obs) for obs in observables))
        with self._lock:
            cached = self._prepared.get(key)
            if cached is not None and cached.source is circuit:
                self._prepared.move_to_end(key)
                return cached
        prepared = self._prepare_estimation(circuit, observables)
        with self._lock:
            self._prepared[key] = prepared
            while len(self._prepared) > PREPARED_CACHE:
                self._prepared.popitem(last=False)
        return prepared

    def _prepare_estimation(self, circuit: Any, observables: list[Observable]) -> _Prepared:
        """The circuit without final measurements, its observables as operators, and a copy
        that saves each observable's expectation value (for aer)."""
        unitary = circuit.remove_final_measurements(inplace=False)
        if unitary.num_qubits > NUM_QUBITS:
            raise invalid_circuit(
                f"circuit uses {unitary.num_qubits} qubits but {self.name} has {NUM_QUBITS}"
            )
        leftover = sorted({"measure", "reset"} & set(unitary.count_ops()))
        if leftover:
            raise InvalidArgument.for_field(
                "circuit",
                f"exact estimation needs a circuit without mid-circuit {' or '.join(leftover)}",
            )
        self.check_circuit(unitary)
        operators = [pauli_operator(obs, unitary.num_qubits, k) for k, obs in enumerate(observables)]
        labels = [f"eigen_obs_{k}" for k in range(len(operators))]
        saving = unitary.copy()
        for label, op in zip(labels, operators, strict=True):
            saving.append(SaveExpectationValue(op, label=label), saving.qubits)
        return _Prepared(circuit, unitary, operators, saving, labels)


class AerStatevectorDriver(StatevectorDriver):
    """``sim:aer``: the state-vector device on qiskit-aer for every circuit."""

    name: ClassVar[str] = "sim:aer"
    aliases: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = (
        "Exact state-vector simulator (qiskit-aer, complex128), all-to-all, noiseless"
    )
    chooses_engine: ClassVar[bool] = False
