"""The hybrid loop run by the kernel: a classical optimiser around real expectation values.

Each evaluation binds parameters into the circuit compiled once (per measurement basis)
and goes through the driver-manager. Every optimiser iteration is a progress event
(iteration, energy, standard error) and a checkpoint; a restarted kernel resumes from the
last checkpoint. Cancel and timeout are seen at the next evaluation.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

from eigen.errors import Cancelled, InvalidArgument, Unavailable
from eigen.kernel.held import held
from eigen.kernel.hybrid import gradients
from eigen.kernel.hybrid.estimator import Estimator
from eigen.kernel.hybrid.observables import Term, check_observable, plan
from eigen.kernel.hybrid.optimizers import minimize, needs_gradient
from eigen.kernel.hybrid.returns import bound_lookup, optimum_lookup, program_returns
from eigen.kernel.hybrid.settings import LoopSettings, circuit_seed, loop_settings, sweep_shots
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.stages import start_point
from eigen.models.compiled import RETURNS_KEY, CompiledProgram, CompileRequest, ExecutionRequest
from eigen.models.job import DEFAULT_SHOTS, Job, JobEvent
from eigen.models.noise import chosen_noise_model
from eigen.models.result import Experiment, JobResult
from eigen.models.target import DeviceInfo

log = logging.getLogger(__name__)


class Interrupted(Exception):
    """The kernel is shutting down: leave the job as it is, to be resumed."""


class HybridRunner:
    def __init__(
        self,
        lifecycle: Lifecycle,
        compiler: CompilerPort,
        drivers: DriverPort,
        stopping: threading.Event,
    ) -> None:
        self.lifecycle = lifecycle
        self.compiler = compiler
        self.drivers = drivers
        self.stopping = stopping

    # -- shared ---------------------------------------------------------------------------
    def _estimator(
        self,
        job: Job,
        compiled: CompiledProgram,
        device: DeviceInfo,
        observables: list[list[Term]],
        shots: int,
        seed: int | None,
        counts_basis: bool,
    ) -> Estimator:
        width = compiled.num_qubits
        for index, terms in enumerate(observables):
            check_observable(terms, width, f"observables[{index}]")
        measurement = plan(observables, width)
        bases = list(measurement.bases) if shots > 0 else []
        if counts_basis and "Z" * width not in bases:
            bases.append("Z" * width)
        if bases:
            compiled = self.compiler.compile(
                CompileRequest(
                    program=job.request.program,
                    language=job.request.language,
                    device=device,
                    entrypoint=job.request.entrypoint,
                    optimization_level=job.request.optimization_level,
                    measurement_bases=tuple(bases),
                )
            )
        noise = chosen_noise_model(job.request.options, compiled.decorator)
        return Estimator(self.drivers, device.name, compiled, observables, measurement, shots, seed, noise)

    def _check_active(self, job_id: str) -> None:
        if self.stopping.is_set():
            raise Interrupted(job_id)
        if self.lifecycle.bus.ended(job_id):  # cancel and timeout go through this kernel
            raise Cancelled(f"job {job_id} ended; the loop stops")

    # -- parameter sweeps with observables -------------------------------------------------
    def run_sweep(self, job: Job, compiled: CompiledProgram, device: DeviceInfo) -> JobResult:
        """One counts table and one value per observable for each binding, in order."""
        request = job.request
        shots = sweep_shots(request, compiled.decorator)
        bindings = list(request.parameter_bindings) or [dict(compiled.defaults)]
        observables = [list(o.items()) for o in request.observables]
        seed = circuit_seed(request, compiled.decorator)
        estimator = self._estimator(job, compiled, device, observables, shots, seed, False)
        counts: list[dict[str, int]] = [{} for _ in bindings]
        engine = ""  # exact values come from the device's estimate, not from a sampling engine
        if shots > 0:
            executed = self.drivers.execute(
                ExecutionRequest(
                    device.name,
                    compiled.circuit,
                    shots,
                    seed,
                    bindings,
                    chosen_noise_model(request.options, compiled.decorator),
                )
            )
            counts = [e.counts for e in executed.experiments]
            seed = executed.seed
            engine = executed.engine
        values = estimator.evaluate(bindings)
        experiments = [
            Experiment(
                counts=counts[i],
                shots=shots,
                bindings=dict(bindings[i]),
                expectation_values=[v for v, _ in values[i]],
                standard_errors=[e for _, e in values[i]],
            )
            for i in range(len(bindings))
        ]
        summary: dict[str, Any] = {"estimator": "exact" if shots == 0 else "shots", "bindings": len(bindings)}
        summary.update(program_returns(compiled, bound_lookup(compiled, bindings)))
        return JobResult(
            job.id, device.name, experiments, seed, device.calibration_id, summary=summary, engine=engine
        )

    # -- variational programs -------------------------------------------------------------
    def run_program(self, job: Job, compiled: CompiledProgram, device: DeviceInfo) -> JobResult:
        assert compiled.hybrid is not None
        settings = loop_settings(job.request, compiled)
        hybrid = compiled.hybrid
        labels = list(hybrid.observables)
        if not labels:
            raise InvalidArgument.for_field("program", "a hybrid program needs an ExpectationValue")
        objective = hybrid.objective or labels[0]
        target = labels.index(objective)
        estimator = self._estimator(
            job,
            compiled,
            device,
            [hybrid.observables[label] for label in labels],
            settings.shots,
            settings.seed,
            True,
        )
        loop = _Loop(self, job, compiled, estimator, target, settings)
        return loop.run(labels, device)


class _Loop:
    """The state of one optimisation: evaluations, iterations, history, checkpoints."""

    def __init__(
        self,
        runner: HybridRunner,
        job: Job,
        compiled: CompiledProgram,
        estimator: Estimator,
        target: int,
        settings: LoopSettings,
    ) -> None:
        self.runner = runner
        self.job = job
        self.compiled = compiled
        self.estimator = estimator
        self.target = target
        self.settings = settings
        assert compiled.hybrid is not None
        # Declaration order (the order of minimize's list-form initial_params and of opt.x).
        declared = [n for n in compiled.hybrid.initial_params if n in compiled.parameters]
        self.names = declared + sorted(set(compiled.parameters) - set(declared))
        self.shift_rule = gradients.shift_rule_applies(compiled.source_circuit, self.names)
        saved = runner.lifecycle.store.checkpoint(job.id) or {}
        self.resumed = bool(saved)
        self.history = _history(runner.lifecycle.store.events(job.id)) if saved else []
        self.evaluations = int(saved.get("evaluations", 0))
        self.x0 = np.array(saved.get("x") or self._initial(), dtype=float)
        self.start_energy: float | None = saved.get("start_energy")
        self.last_error = 0.0

    def _initial(self) -> list[float]:
        hybrid = self.compiled.hybrid
        assert hybrid is not None
        defaults = self.compiled.defaults
        start = start_point(self.job.request)  # a PipelineJob stage's inputs, over the program's
        return [float(start.get(n, hybrid.initial_params.get(n, defaults.get(n, 0.0)))) for n in self.names]

    def binding(self, x: np.ndarray) -> dict[str, float]:
        return {name: float(value) for name, value in zip(self.names, x, strict=True)}

    def energy(self, x: np.ndarray) -> float:
        self.runner._check_active(self.job.id)
        row = self.estimator.evaluate([self.binding(x)])[0]
        self.evaluations += 1
        value, self.last_error = row[self.target]
        if self.start_energy is None:
            self.start_energy = value
        return value

    def gradient(self, x: np.ndarray) -> np.ndarray:
        self.runner._check_active(self.job.id)
        size = gradients.step(self.shift_rule)
        points = gradients.shifted_points(x, size)
        rows = self.estimator.evaluate([self.binding(p) for p in points])
        self.evaluations += len(points)
        return gradients.combine([row[self.target][0] for row in rows], self.shift_rule, size)

    def on_iteration(self, x: np.ndarray, value: float) -> None:
        iteration = len(self.history) + 1
        entry = {
            "iteration": iteration,
            "energy": value,
            "std_error": self.last_error,
            "evaluations": self.evaluations,
        }
        self.history.append(entry)
        progress = {**entry, "max_iters": self.settings.max_iters, "parameters": self.binding(x)}
        # The history lives in the progress events; the checkpoint stays small and is
        # stored in the same transaction as its event.
        checkpoint = {
            "x": [float(v) for v in x],
            "iterations": iteration,
            "evaluations": self.evaluations,
            "start_energy": self.start_energy,
        }
        lifecycle = self.runner.lifecycle

        def write() -> bool:
            return lifecycle.progress(
                self.job.id, progress, f"iteration {iteration}", checkpoint, claim=self.job
            )

        try:
            recorded = write()
        except Unavailable as exc:  # the store is down: the loop waits for it (eigen.kernel.held)
            stored, answer = held(write, exc, self.runner.stopping, "progress", {"job_id": self.job.id})
            if not stored:
                raise Interrupted(self.job.id) from None
            recorded = bool(answer)
        if not recorded:
            raise Cancelled(f"job {self.job.id} ended or is no longer this run's; the loop stops")

    def run(self, labels: list[str], device: DeviceInfo) -> JobResult:
        started = time.perf_counter()
        remaining = self.settings.max_iters - len(self.history) if self.names else 0
        outcome = minimize(
            self.settings.method,
            self.energy,
            self.x0,
            remaining,
            self.settings.options,
            self.on_iteration,
            self.gradient if needs_gradient(self.settings.method) else None,
        )
        optimiser_s = time.perf_counter() - started
        self.runner._check_active(self.job.id)
        final = self.estimator.evaluate([self.binding(outcome.x)])[0]
        energy, error = final[self.target]
        counts = self._final_counts(outcome.x, device)
        optimum = self.binding(outcome.x)
        values = {label: final[i][0] for i, label in enumerate(labels)}
        summary: dict[str, Any] = {
            "energy": energy,
            "std_error": error,
            "start_energy": self.start_energy,
            "optimal_parameters": optimum,
            "iterations": len(self.history),
            "evaluations": self.evaluations,
            "method": self.settings.method,
            "max_iters": self.settings.max_iters,
            "estimator": "exact" if self.estimator.exact else "shots",
            "shots_per_basis": self.settings.shots,
            "noise_model": self.settings.noise_model,
            "measurement_bases": list(self.estimator.plan.bases),
            "gradient": self._gradient_kind(),
            "converged": outcome.success,
            "message": outcome.message,
            "resumed": self.resumed,
            "objective": labels[self.target],
            "expectation_values": values,
            "history": self.history,
            "optimizer_s": optimiser_s,
        }
        lookup = optimum_lookup(summary, self.names, self.compiled.defaults)
        summary.update(program_returns(self.compiled, lookup) or {RETURNS_KEY: {}})
        experiment = Experiment(
            counts=counts.experiments[0].counts,
            shots=sum(counts.experiments[0].counts.values()),
            bindings=optimum,
            expectation_values=[values[label] for label in labels],
            standard_errors=[final[i][1] for i in range(len(labels))],
        )
        return JobResult(
            self.job.id,
            device.name,
            [experiment],
            counts.seed,
            counts.calibration_id,
            summary=summary,
            engine=counts.engine,
        )

    def _gradient_kind(self) -> str | None:
        if not needs_gradient(self.settings.method):
            return None
        return "parameter-shift" if self.shift_rule else "finite-difference"

    def _final_counts(self, x: np.ndarray, device: DeviceInfo) -> Any:
        width = self.compiled.num_qubits
        circuit = self.estimator.compiled.basis_circuits["Z" * width]
        shots = self.settings.shots or DEFAULT_SHOTS
        request = ExecutionRequest(
            device.name, circuit, shots, self.settings.seed, [self.binding(x)], self.settings.noise_model
        )
        return self.runner.drivers.execute(request)


HISTORY_FIELDS = ("iteration", "energy", "std_error", "evaluations")


def _history(events: list[JobEvent]) -> list[dict[str, Any]]:
    """The iterations recorded so far, from the job's progress events."""
    return [
        {key: event.data[key] for key in HISTORY_FIELDS if key in event.data}
        for event in events
        if event.kind == "progress" and "iteration" in event.data
    ]
