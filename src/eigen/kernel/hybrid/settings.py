"""Settings of a hybrid run, and their precedence (documented in docs/hybrid.md):

the job's settings (command-line flags, then ``spec.metadata``, then ``spec.compiler``, all
folded into the :class:`~eigen.models.job.JobRequest` by the JobSpec reader: shots, seed,
max_iters, optimizer, estimator, noise_model) override the program's decorator
(``@hybrid_program(shots=..., seed=..., noise_model=...)``, then its ``metadata={...}``
dict with the keys of ``spec.metadata``), which overrides ``minimize(method=...,
max_iters=...)``, which overrides the defaults (1024 shots per measurement basis, COBYLA,
100 iterations). :func:`circuit_shots` and :func:`circuit_seed` apply the same order to a
plain program's circuit.
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


def program_options(decorator: dict[str, Any]) -> dict[str, str]:
    """The decorator's ``metadata`` dict as ``spec.metadata`` options (text values)."""
    metadata = decorator.get("metadata")
    if not isinstance(metadata, dict):
        return {}
    return {
        str(key): _text(value)
        for key, value in metadata.items()
        if value is not None and isinstance(value, str | int | float | bool)
    }


def _text(value: str | int | float | bool) -> str:
    if isinstance(value, float) and value.is_integer():  # 50.0 after a Struct: "50"
        return str(int(value))
    return str(value)


def job_options(request: JobRequest, decorator: dict[str, Any]) -> dict[str, str]:
    """``spec.metadata`` over the program's ``metadata={...}``."""
    return {**program_options(decorator), **request.options}


def circuit_shots(request: JobRequest, decorator: dict[str, Any]) -> int:
    """A plain program's shots: the job's, else the decorator's, else the default."""
    if request.shots is not None:
        return request.shots
    shots = decorator.get("shots")
    return int(shots) if isinstance(shots, int | float) and not isinstance(shots, bool) else DEFAULT_SHOTS


def circuit_seed(request: JobRequest, decorator: dict[str, Any]) -> int | None:
    """A plain program's seed: the job's, else the decorator's, else none."""
    if request.seed is not None:
        return request.seed
    seed = decorator.get("seed")
    return int(seed) if isinstance(seed, int | float) and not isinstance(seed, bool) else None


def _estimator(options: dict[str, str], shots: int) -> str:
    chosen = options.get("estimator", "exact" if shots == 0 else "shots").lower()
    if chosen not in ESTIMATORS:
        raise InvalidArgument.for_field("spec.metadata.estimator", f"must be one of {', '.join(ESTIMATORS)}")
    return chosen


def loop_settings(request: JobRequest, compiled: CompiledProgram) -> LoopSettings:
    hybrid = compiled.hybrid
    assert hybrid is not None
    decorator = compiled.decorator
    options = job_options(request, decorator)
    shots = circuit_shots(request, decorator)
    if _estimator(options, shots) == "exact":
        shots = 0
    seed = circuit_seed(request, decorator)
    method = canonical_method(options.get("optimizer") or hybrid.method, "spec.metadata.optimizer")
    max_iters, where = hybrid.max_iters, "program"  # the field that set it, for the error
    if "max_iters" in options:
        where = "spec.metadata.max_iters" if "max_iters" in request.options else "program"
        try:
            max_iters = int(options["max_iters"])
        except ValueError:
            raise InvalidArgument.for_field(where, "must be a whole number") from None
    if not 1 <= max_iters <= MAX_ITERS_LIMIT:
        what = "minimize's max_iters " if where == "program" else ""
        raise InvalidArgument.for_field(where, f"{what}must be between 1 and {MAX_ITERS_LIMIT}")
    checked = check_options(method, hybrid.options, len(compiled.parameters))
    noise = chosen_noise_model(request.options, decorator)
    return LoopSettings(shots, seed, method, max_iters, checked, noise)


def sweep_shots(request: JobRequest, decorator: dict[str, Any] | None = None) -> int:
    """Shots per binding of a sweep with observables (0: exact)."""
    program = decorator or {}
    shots = circuit_shots(request, program)
    return 0 if _estimator(job_options(request, program), shots) == "exact" else shots


def check_estimation(shots: int, device: DeviceInfo) -> None:
    """Exact estimation needs a noiseless simulator."""
    if shots == 0 and (device.noisy or not device.simulator):
        raise InvalidArgument.for_field(
            "spec.metadata.shots",
            f"exact estimation (shots 0) needs a noiseless simulator; {device.name} needs shots >= 1",
        )
