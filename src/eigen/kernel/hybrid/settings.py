"""Settings of a hybrid run, and their precedence (documented in docs/hybrid.md):

``spec.metadata`` of the job (shots, seed, max_iters, optimizer, estimator) overrides the
program (``@hybrid_program(shots=..., seed=...)``, ``minimize(method=..., max_iters=...)``),
which overrides the defaults (1024 shots per measurement basis, COBYLA, 100 iterations).
Shots 0, or ``estimator: exact``, asks for exact expectation values (simulators only).
The optimiser's keyword options are checked against the chosen optimiser's table
(:mod:`eigen.kernel.hybrid.options`). The kernel resolves these settings at submission,
so anything wrong is INVALID_ARGUMENT before a job exists, and again when the loop runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eigen.errors import InvalidArgument
from eigen.kernel.hybrid.optimizers import canonical_method
from eigen.kernel.hybrid.options import check_options
from eigen.models.compiled import CompiledProgram
from eigen.models.job import DEFAULT_SHOTS, JobRequest
from eigen.models.noise import chosen_noise_model
from eigen.models.target import DeviceInfo

ESTIMATORS = ("exact", "shots")
MAX_ITERS_LIMIT = 100_000


@dataclass(frozen=True)
class LoopSettings:
    shots: int  # per measurement basis; 0 = exact
    seed: int | None
    method: str
    max_iters: int
    options: dict[str, Any] = field(default_factory=dict)
    noise_model: str | None = None  # by name (models/noise.py): spec.metadata, else the program


def _estimator(request: JobRequest, shots: int) -> str:
    chosen = request.options.get("estimator", "exact" if shots == 0 else "shots").lower()
    if chosen not in ESTIMATORS:
        raise InvalidArgument.for_field("spec.metadata.estimator", f"must be one of {', '.join(ESTIMATORS)}")
    return chosen


def loop_settings(request: JobRequest, compiled: CompiledProgram) -> LoopSettings:
    hybrid = compiled.hybrid
    assert hybrid is not None
    decorator = compiled.decorator
    shots = request.shots if request.shots is not None else int(decorator.get("shots", DEFAULT_SHOTS))
    if _estimator(request, shots) == "exact":
        shots = 0
    seed = request.seed if request.seed is not None else decorator.get("seed")
    method = canonical_method(request.options.get("optimizer") or hybrid.method, "spec.metadata.optimizer")
    max_iters, where = hybrid.max_iters, "program"  # the field that set it, for the error
    if "max_iters" in request.options:
        where = "spec.metadata.max_iters"
        try:
            max_iters = int(request.options["max_iters"])
        except ValueError:
            raise InvalidArgument.for_field(where, "must be a whole number") from None
    if not 1 <= max_iters <= MAX_ITERS_LIMIT:
        what = "minimize's max_iters " if where == "program" else ""
        raise InvalidArgument.for_field(where, f"{what}must be between 1 and {MAX_ITERS_LIMIT}")
    options = check_options(method, hybrid.options, len(compiled.parameters))
    noise = chosen_noise_model(request.options, decorator)
    return LoopSettings(shots, None if seed is None else int(seed), method, max_iters, options, noise)


def sweep_shots(request: JobRequest) -> int:
    shots = request.shots_or_default
    return 0 if _estimator(request, shots) == "exact" else shots


def check_estimation(shots: int, device: DeviceInfo) -> None:
    """Exact estimation needs a noiseless simulator."""
    if shots == 0 and (device.noisy or not device.simulator):
        raise InvalidArgument.for_field(
            "spec.metadata.shots",
            f"exact estimation (shots 0) needs a noiseless simulator; {device.name} needs shots >= 1",
        )
