"""Classical optimisers by name: scipy's COBYLA, Nelder-Mead, Powell and L-BFGS-B (with the
caller's gradient, e.g. parameter shift), and SPSA from qiskit-algorithms."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from eigen.errors import InvalidArgument

Objective = Callable[[np.ndarray], float]
Gradient = Callable[[np.ndarray], np.ndarray]
IterationHook = Callable[[np.ndarray, float], None]

GRADIENT_FREE = {"cobyla": "COBYLA", "nelder-mead": "Nelder-Mead", "powell": "Powell"}
WITH_GRADIENT = {"l-bfgs-b": "L-BFGS-B"}
METHODS = (*GRADIENT_FREE.values(), *WITH_GRADIENT.values(), "SPSA")


@dataclass(frozen=True)
class Outcome:
    x: np.ndarray
    fun: float
    iterations: int
    success: bool
    message: str


def canonical_method(name: str, field: str = "optimizer") -> str:
    key = name.strip().lower().replace("_", "-")
    if key == "spsa":
        return "SPSA"
    found = GRADIENT_FREE.get(key) or WITH_GRADIENT.get(key)
    if found is None:
        raise InvalidArgument.for_field(field, f"unknown optimizer {name!r} (one of {', '.join(METHODS)})")
    return found


def needs_gradient(method: str) -> bool:
    return canonical_method(method) in WITH_GRADIENT.values()


def minimize(
    method: str,
    objective: Objective,
    x0: np.ndarray,
    max_iters: int,
    options: dict[str, Any],
    on_iteration: IterationHook,
    gradient: Gradient | None = None,
) -> Outcome:
    name = canonical_method(method)
    if max_iters < 1:
        return Outcome(x0, objective(x0), 0, True, "nothing to optimise (no parameters or iterations left)")
    if name == "SPSA":
        return _spsa(objective, x0, max_iters, options, on_iteration)
    return _scipy(name, objective, x0, max_iters, options, on_iteration, gradient)


def _scipy(
    name: str,
    objective: Objective,
    x0: np.ndarray,
    max_iters: int,
    options: dict[str, Any],
    on_iteration: IterationHook,
    gradient: Gradient | None,
) -> Outcome:
    from scipy.optimize import OptimizeResult
    from scipy.optimize import minimize as scipy_minimize

    iterations = 0

    def callback(intermediate_result: OptimizeResult) -> None:
        nonlocal iterations
        iterations += 1
        on_iteration(np.asarray(intermediate_result.x), float(intermediate_result.fun))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # options are checked at submission (options.py)
        result = scipy_minimize(
            objective,
            x0,
            method=name,
            jac=gradient if name in WITH_GRADIENT.values() else None,
            options={**options, "maxiter": max_iters},
            callback=callback,
        )
    return Outcome(
        np.asarray(result.x),
        float(result.fun),
        iterations,
        bool(result.success),
        str(result.message),
    )


def _spsa(
    objective: Objective,
    x0: np.ndarray,
    max_iters: int,
    options: dict[str, Any],
    on_iteration: IterationHook,
) -> Outcome:
    from qiskit_algorithms.optimizers import SPSA

    iterations = 0

    def callback(_nfev: int, x: np.ndarray, fx: float, _step: float, _accepted: bool) -> None:
        nonlocal iterations
        iterations += 1
        on_iteration(np.asarray(x), float(fx))

    try:
        optimizer = SPSA(maxiter=max_iters, callback=callback, **options)
    except TypeError as exc:  # not in options.OPTIONS["SPSA"], which loop_settings checked
        raise InvalidArgument.for_field("program", f"bad SPSA option: {exc}") from None
    result = optimizer.minimize(objective, x0)
    return Outcome(np.asarray(result.x), float(result.fun), iterations, True, "SPSA finished its iterations")
