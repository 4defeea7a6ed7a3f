"""The optimiser options a hybrid program may set, checked by name, type and range.

The keyword options of ``minimize(...)`` (literal numbers, strings, booleans; see
:mod:`eigen.lang.hybrid`) are handed to a library: scipy's ``options`` or the constructor
of qiskit-algorithms' ``SPSA``. A library given a value it does not expect fails late,
with its own error (a ``ValueError`` that ended the job as EIGEN_INTERNAL), or does what
it was told for as long as it was told (``resamplings=100000000`` ran until the job's
timeout). So Eigen passes on only the options of :data:`OPTIONS`, one explicit table per
optimiser, each with its type and a bounded range, and refuses any other at submission
(INVALID_ARGUMENT, field ``program``) before a job exists. Options that would print to
the server's output (``disp``, ``iprint``), keep every iterate (``return_all``), start
threads (``workers``) or that Eigen sets itself (``maxiter``: ``max_iters``) are not in the
tables. The ranges bound the work an option can add (evaluations per iteration, memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eigen.errors import InvalidArgument, quote

FIELD = "program"

LARGE = 1e6  # the upper bound of tolerances and scales: finite, far past any useful value


@dataclass(frozen=True)
class Option:
    """One option: ``kind`` bool, int or float; numbers lie in ``low``..``high`` (``low``
    itself excluded when ``above`` is set: a step or a rate must be positive)."""

    kind: type
    low: float = 0.0
    high: float = LARGE
    above: bool = False

    def check(self, name: str, value: object, method: str) -> bool | int | float:
        """``value`` as the library gets it, or INVALID_ARGUMENT naming the option."""
        where = f"minimize option {quote(name)} of {method}"
        if self.kind is bool:
            if not isinstance(value, bool):
                raise InvalidArgument.for_field(FIELD, f"{where} must be True or False, not {quote(value)}")
            return value
        whole = self.kind is int
        number = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not number:
            kind = "a whole number" if whole else "a number"
            raise InvalidArgument.for_field(FIELD, f"{where} must be {kind}, not {quote(value)}")
        assert isinstance(value, int | float)
        # Compared before any conversion: an int of 400 digits or a NaN fails here.
        low_ok = value > self.low if self.above else value >= self.low
        if not (low_ok and value <= self.high):
            lower = f"above {self.low:g}" if self.above else f"at least {self.low:g}"
            raise InvalidArgument.for_field(
                FIELD, f"{where} must be {lower} and at most {self.high:g}, not {quote(value)}"
            )
        return int(value) if whole else float(value)


def _real(low: float = 0.0, high: float = LARGE, *, above: bool = False) -> Option:
    return Option(float, low, high, above)


def _whole(low: int, high: int) -> Option:
    return Option(int, low, high)


FLAG = Option(bool)
TOLERANCE = _real()  # a stopping tolerance: 0 (never stop early) .. LARGE
EVALUATIONS = _whole(1, 1_000_000)  # scipy's limits on function evaluations

#: The options Eigen passes on, per optimiser (canonical names of ``optimizers.METHODS``).
OPTIONS: dict[str, dict[str, Option]] = {
    "COBYLA": {
        "rhobeg": _real(above=True),  # the first step of the trust region
        "tol": TOLERANCE,  # the final trust-region radius
        "catol": TOLERANCE,  # constraint tolerance (Eigen's problems are unconstrained)
        "f_target": _real(-LARGE, LARGE),  # stop once the energy is below this
    },
    "Nelder-Mead": {
        "xatol": TOLERANCE,
        "fatol": TOLERANCE,
        "maxfev": EVALUATIONS,
        "adaptive": FLAG,
    },
    "Powell": {
        "xtol": TOLERANCE,
        "ftol": TOLERANCE,
        "maxfev": EVALUATIONS,
    },
    "L-BFGS-B": {
        "ftol": TOLERANCE,
        "gtol": TOLERANCE,
        "maxcor": _whole(1, 1000),  # corrections kept: memory grows with it
        "maxfun": EVALUATIONS,
        "maxls": _whole(1, 1000),  # line-search steps per iteration
    },
    "SPSA": {
        "learning_rate": _real(high=1e3, above=True),  # with perturbation, or neither
        "perturbation": _real(high=1e3, above=True),
        "blocking": FLAG,
        "allowed_increase": TOLERANCE,
        "trust_region": FLAG,
        "last_avg": _whole(1, 1000),
        "resamplings": _whole(1, 100),  # evaluations per iteration: 2 x resamplings (x2 2nd order)
        "perturbation_dims": _whole(1, 100_000),  # at most the number of Params, checked below
        "second_order": FLAG,
        "regularization": TOLERANCE,
        "hessian_delay": _whole(0, 100_000),
    },
}


def check_options(method: str, options: Mapping[str, Any], num_parameters: int) -> dict[str, Any]:
    """The options of ``minimize(...)`` for optimiser ``method`` (canonical name) of a
    program with ``num_parameters`` free Params, as the library gets them; an unknown
    option, a value of another type or out of range is INVALID_ARGUMENT (field ``program``)."""
    table = OPTIONS[method]
    checked: dict[str, Any] = {}
    for name, value in options.items():
        option = table.get(name)
        if option is None:
            hint = "; the number of iterations is max_iters" if name == "maxiter" else ""
            known = ", ".join(sorted(table))
            raise InvalidArgument.for_field(
                FIELD,
                f"minimize option {quote(name)} is not an option of {method} (its options: {known}){hint}",
            )
        checked[name] = option.check(name, value, method)
    if method == "SPSA":
        _check_spsa(checked, num_parameters)
    return checked


def _check_spsa(options: Mapping[str, Any], num_parameters: int) -> None:
    """SPSA's rules between options: it calibrates learning rate and perturbation
    together, so a program gives both or neither; it perturbs ``perturbation_dims`` of the
    Params, so there must be that many."""
    if ("learning_rate" in options) != ("perturbation" in options):
        given, missing = ("learning_rate", "perturbation")[:: 1 if "learning_rate" in options else -1]
        raise InvalidArgument.for_field(
            FIELD, f"minimize option '{given}' of SPSA needs '{missing}' too (give both or neither)"
        )
    dims = options.get("perturbation_dims")
    if dims is not None and dims > num_parameters:
        raise InvalidArgument.for_field(
            FIELD,
            f"minimize option 'perturbation_dims' of SPSA is {dims}, more than the program's "
            f"{num_parameters} Params",
        )
