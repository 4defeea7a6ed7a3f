"""Classical optimisers of Eigen-Lang: :func:`minimize` marks the variational loop.

The Eigen kernel runs the loop (scipy); in the program, ``minimize`` only declares it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from eigen_lang._marker import not_runnable
from eigen_lang._types import ExpectationValue, OptimizationResult, Param

__all__ = ["minimize"]


def minimize(
    objective: ExpectationValue,
    initial_params: Sequence[float | Param] | Mapping[str, float] | None = None,
    method: str = "COBYLA",
    max_iters: int = 100,
    **options: float | int | str | bool,
) -> OptimizationResult:
    """Minimise ``objective`` over the program's ``Param`` s.

    ``initial_params``: a list of numbers in ``Param`` declaration order, a mapping
    ``{"theta": 0.1}``, a list of ``Param`` s (their defaults), or ``None`` (the defaults,
    0.0 for a ``Param`` without one). ``method`` is a scipy ``minimize`` method;
    ``max_iters`` caps the iterations; other literal keyword options go to the optimiser.
    """
    not_runnable("eigen_lang.optimizers.minimize()")
