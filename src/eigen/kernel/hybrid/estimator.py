"""Expectation values of observables for many parameter bindings at once.

``exact``: the driver computes them from the statevector (simulators only, no noise).
``shots``: every measurement basis of the plan runs once with all bindings; values and
standard errors come from the counts (:mod:`eigen.kernel.hybrid.observables`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eigen.kernel.hybrid.observables import Plan, Term, estimate
from eigen.kernel.ports import DriverPort
from eigen.models.compiled import CompiledProgram, EstimationRequest, ExecutionRequest

Estimate = tuple[float, float]  # (value, standard error)


@dataclass
class Estimator:
    drivers: DriverPort
    device: str
    compiled: CompiledProgram
    observables: list[list[Term]]
    plan: Plan
    shots: int  # per measurement basis; 0 = exact
    seed: int | None = None
    noise_model: str | None = None  # by name, for the driver (models/noise.py)
    calls: int = 0

    @property
    def exact(self) -> bool:
        return self.shots == 0

    def evaluate(self, bindings: list[dict[str, float]]) -> list[list[Estimate]]:
        """For each binding, (value, standard error) of each observable."""
        self.calls += 1
        if self.exact:
            values = self.drivers.estimate(
                EstimationRequest(
                    device=self.device,
                    circuit=self.compiled.source_circuit,
                    observables=self.observables,
                    parameter_bindings=bindings,
                )
            )
            return [[(v, 0.0) for v in row] for row in values]
        per_basis: dict[str, list[dict[str, int]]] = {}
        for index, basis in enumerate(self.plan.bases):
            result = self.drivers.execute(
                ExecutionRequest(
                    device=self.device,
                    circuit=self.compiled.basis_circuits[basis],
                    shots=self.shots,
                    seed=self._seed(index),
                    parameter_bindings=bindings,
                    noise_model=self.noise_model,
                )
            )
            per_basis[basis] = [e.counts for e in result.experiments]
        return [
            estimate(self.observables, self.plan, {b: runs[i] for b, runs in per_basis.items()})
            for i in range(max(1, len(bindings)))
        ]

    def _seed(self, group: int) -> int | None:
        """Distinct, reproducible seeds: a fixed seed gives the same run every time."""
        if self.seed is None:
            return None
        return (self.seed + 7919 * self.calls + 104_729 * group) % (2**31)
