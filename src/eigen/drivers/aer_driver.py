"""What the qiskit-aer backed drivers share: one ``run()`` call per request.

All bindings of a request go to qiskit-aer in a single ``AerSimulator.run`` call (as
``parameter_binds``), with the request's seed (or a drawn one, reported back). A request's
noise model by name (:mod:`eigen.drivers.noise`) is passed to that call. Circuits
are never transpiled here: the compiler lowered them to the device already, and a gate
the simulator cannot run is an :class:`~eigen.errors.InvalidArgument` naming it.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from time import perf_counter
from typing import TYPE_CHECKING, Any

from eigen.drivers import counts
from eigen.drivers.aer_tuning import run_options
from eigen.drivers.base import Driver, invalid_circuit
from eigen.drivers.binding import sweep_table
from eigen.drivers.noise import noise_model_for
from eigen.drivers.outputs import aer_final_states, memory_from_hex, wants_dense, with_final_state
from eigen.drivers.seeding import choose_seed
from eigen.errors import ExecutionFailed, InvalidArgument
from eigen.models.noise import applies_noise_models
from eigen.models.outputs import Output
from eigen.models.result import ExecutionResult, Experiment

if TYPE_CHECKING:
    from qiskit_aer import AerSimulator

    from eigen.models.compiled import ExecutionRequest

logger = logging.getLogger(__name__)

#: Directives every aer simulator accepts whatever its basis.
DIRECTIVES = frozenset({"barrier", "measure", "reset", "delay"})


def unsupported_gate(circuit: Any, accepted: frozenset[str], device: str) -> InvalidArgument:
    """The error for the first instruction of ``circuit`` whose name is not ``accepted``."""
    for index, instruction in enumerate(circuit.data):
        name = instruction.operation.name
        if name not in accepted:
            return invalid_circuit(
                f"gate {name!r} (instruction {index}) is not supported by {device}; "
                "compile the circuit for this device first",
            )
    return invalid_circuit(f"circuit cannot run on {device}")


class AerDriver(Driver):
    """Base of drivers whose backend is an ``AerSimulator``."""

    @abstractmethod
    def simulator(self) -> AerSimulator:
        """The one simulator instance of this driver (reused by every call)."""

    def simulator_for(self, circuit: Any, noisy: bool) -> AerSimulator:
        """The simulator that runs ``circuit`` (``noisy``: with a noise model by name); by
        default :meth:`simulator`."""
        return self.simulator()

    @abstractmethod
    def accepted_operations(self) -> frozenset[str]:
        """Instruction names this driver runs."""

    @property
    def applies_noise_models(self) -> bool:
        """A noiseless, general aer simulator adds a noise model by name; an emulator, which
        has its device's noise model already, does not."""
        return applies_noise_models(self.info)

    @property
    def calibration_id(self) -> str:
        return self.info.calibration_id

    def check_circuit(self, circuit: Any) -> None:
        """Raise :class:`InvalidArgument` for an instruction the device cannot run."""
        accepted = self.accepted_operations()
        if not set(circuit.count_ops()) <= accepted:
            raise unsupported_gate(circuit, accepted, self.name)

    def run(self, request: ExecutionRequest) -> ExecutionResult:
        """Run every binding in one aer call; with a noise model by name, on aer's noise
        model of it for this device's basis (per request: the simulator stays noiseless)."""
        self.check_request(request)
        noise = self.check_noise_model(request)
        circuit = request.circuit
        self.check_circuit(circuit)
        seed = choose_seed(request.seed)
        bindings = request.parameter_bindings
        table = sweep_table(circuit, bindings)
        options: dict[str, Any] = {"shots": request.shots, "seed_simulator": seed}
        if noise is not None:
            options["noise_model"] = noise_model_for(noise, self.info.basis_gates)
        options.update(run_options(circuit, max(1, len(bindings))))
        if Output.MEMORY in request.outputs:
            options["memory"] = True
        if table:
            circuits = [circuit]
            options["parameter_binds"] = [table]
        else:
            circuits = [circuit] * max(1, len(bindings))
        simulator = self.simulator_for(circuit, noise is not None)
        start = perf_counter()
        try:
            result = simulator.run(circuits, **options).result()
        except Exception as exc:  # aer raises AerError, QiskitError, ValueError, ...
            logger.warning("aer run failed", extra={"device": self.name, "error": repr(exc)})
            raise ExecutionFailed(f"{self.name}: simulation failed: {exc}") from exc
        elapsed = perf_counter() - start
        if not result.success:
            statuses = "; ".join(str(r.status) for r in result.results if not r.success)
            raise ExecutionFailed(f"{self.name}: simulation failed: {statuses or result.status}")
        num_clbits = circuit.num_clbits
        experiments = [
            Experiment(
                counts=counts.from_hex(getattr(res.data, "counts", None) or {}, num_clbits),
                shots=request.shots,
                bindings=dict(bindings[i]) if bindings else {},
                memory=memory_from_hex(getattr(res.data, "memory", None) or [], num_clbits),
            )
            for i, res in enumerate(result.results)
        ]
        timings = {"execute_s": elapsed, "aer_s": elapsed}
        if wants_dense(request.outputs):
            if noise is not None:
                raise InvalidArgument.for_field(
                    "outputs",
                    "probabilities and statevector are of the noiseless state: not with a noise model",
                )
            states = aer_final_states(simulator, circuit, table, len(experiments), self.name)
            for experiment, state in zip(experiments, states, strict=True):
                with_final_state(experiment, state, request.outputs)
            timings["aer_state_s"] = perf_counter() - start - elapsed
        return ExecutionResult(
            backend=self.name,
            experiments=experiments,
            seed=seed,
            calibration_id=self.calibration_id,
            timings=timings,
            engine="aer",
        )
