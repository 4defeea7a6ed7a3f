"""``sim:qsim``: exact, noiseless state-vector simulation with qsim (qsimcirq), float32, all cores.

The explicit qsim device: every circuit runs on qsim, or is refused with the reason when
qsim cannot run it (noise, mid-circuit measurement, reset, control flow: see
:func:`eigen.drivers.qsim_engine.qsim_refusal`); ``sim:statevector`` picks between qsim
and aer per circuit instead. Experiment ``i`` of a sweep is sampled with seed ``seed + i``.

The result records the engine in its timings: ``qsim_s`` (qsim's own run) and
``qsim_convert_s`` (the OpenQASM 2 round trip), as aer-backed results carry ``aer_s``.

Width: 28 qubits, as ``sim:statevector`` (a float32 state takes half the memory of aer's
complex128, so the same width leaves more room for several jobs).
"""

from __future__ import annotations

import threading
from time import perf_counter
from typing import TYPE_CHECKING, ClassVar

from eigen.drivers.base import Driver, invalid_circuit
from eigen.drivers.binding import bind_all
from eigen.drivers.outputs import wants_dense, with_final_state
from eigen.drivers.qsim_engine import QSIM_OPERATIONS, QsimEngine, qsim_refusal
from eigen.drivers.seeding import MAX_SEED, choose_seed
from eigen.models.outputs import Output
from eigen.models.result import ExecutionResult, Experiment
from eigen.models.state_memory import StateMemory
from eigen.models.target import DeviceInfo

if TYPE_CHECKING:
    from eigen.models.compiled import ExecutionRequest

NUM_QUBITS = 28
#: The basis a circuit is compiled to for qsim (``barrier`` runs but is a directive).
BASIS_GATES: tuple[str, ...] = tuple(sorted(QSIM_OPERATIONS - {"barrier"}))


class EngineHolder:
    """A :class:`QsimEngine` built on first use (importing cirq takes seconds)."""

    def __init__(self, *, use_gpu: bool = False) -> None:
        self._use_gpu = use_gpu
        self._engine: QsimEngine | None = None
        self._lock = threading.Lock()

    def get(self) -> QsimEngine:
        with self._lock:
            if self._engine is None:
                self._engine = QsimEngine(use_gpu=self._use_gpu)
            return self._engine


def run_on_qsim(engine: QsimEngine, request: ExecutionRequest, device: str) -> ExecutionResult:
    """Every binding of ``request`` on ``engine`` (the circuit already checked for qsim)."""
    seed = choose_seed(request.seed)
    circuits = bind_all(request.circuit, request.parameter_bindings)
    bindings = request.parameter_bindings
    experiments: list[Experiment] = []
    run_s = convert_s = 0.0
    start = perf_counter()
    memory = Output.MEMORY in request.outputs
    for i, bound in enumerate(circuits):
        outcome = engine.run(bound, request.shots, (seed + i) % (MAX_SEED + 1), memory=memory)
        run_s += outcome.run_s
        convert_s += outcome.convert_s
        experiment = Experiment(
            counts=outcome.counts,
            shots=request.shots,
            bindings=dict(bindings[i]) if bindings else {},
            memory=outcome.memory,
        )
        if wants_dense(request.outputs):
            with_final_state(experiment, engine.final_state(bound), request.outputs)
        experiments.append(experiment)
    elapsed = perf_counter() - start
    return ExecutionResult(
        backend=device,
        experiments=experiments,
        seed=seed,
        timings={"execute_s": elapsed, f"{engine.name}_s": run_s, f"{engine.name}_convert_s": convert_s},
        engine=engine.name,
    )


class QsimDriver(Driver):
    name: ClassVar[str] = "sim:qsim"
    description: ClassVar[str] = (
        "Exact state-vector simulator (qsim, float32, all cores), all-to-all, noiseless"
    )
    use_gpu: ClassVar[bool] = False

    def __init__(self) -> None:
        self._engine = EngineHolder(use_gpu=self.use_gpu)
        self._info = DeviceInfo(
            name=self.name,
            num_qubits=NUM_QUBITS,
            basis_gates=BASIS_GATES,
            coupling_map=None,
            simulator=True,
            noisy=False,
            description=self.description,
            aliases=self.aliases,
            state_memory=StateMemory.GPU if self.use_gpu else StateMemory.COMPLEX64,
        )

    @property
    def info(self) -> DeviceInfo:
        return self._info

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        """Run on qsim; a circuit qsim cannot run is INVALID_ARGUMENT with the reason."""
        self.check_request(request)
        refusal = qsim_refusal(request.circuit)
        if refusal is not None:
            raise invalid_circuit(
                f"{self.name} cannot run this circuit ({refusal}); use sim:statevector, which runs it on aer"
            )
        return run_on_qsim(self._engine.get(), request, self.name)
