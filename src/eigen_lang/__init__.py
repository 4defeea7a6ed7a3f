"""Eigen-Lang: the names ``program.eigen.py`` files import.

This package exists so editors, type checkers and linters know the names. Eigen never
imports or runs a program: it reads the file as a Python AST (see :mod:`eigen.lang`).
The gate and optimiser functions are declarative markers and raise
:class:`NotRunnableError` when called.

A program::

    from eigen_lang import Param, hybrid_program, ry, cx, measure

    @hybrid_program(shots=1000)
    def main():
        theta = Param("theta", 0.5)
        ry(0, theta)
        cx(0, 1)
        measure(0, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

from eigen_lang import optimizers
from eigen_lang._gates import (
    ccx,
    ccz,
    cnot,
    cx,
    cz,
    h,
    measure,
    measure_all,
    reset,
    rx,
    ry,
    rz,
    s,
    swap,
    t,
    x,
    y,
    z,
)
from eigen_lang._marker import NotRunnableError, not_runnable
from eigen_lang._types import (
    ClassicalRegister,
    DatasetRef,
    ExpectationValue,
    Observable,
    OptimizationResult,
    Param,
    QubitRegister,
    load_dataset,
    pi,
)
from eigen_lang.optimizers import minimize

F = TypeVar("F", bound=Callable[..., Any])


def _mark(func: F) -> F:
    def run(*args: Any, **kwargs: Any) -> Any:
        not_runnable(f"{func.__name__}() (a @hybrid_program function)")

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run  # type: ignore[return-value]


@overload
def hybrid_program(func: F, /) -> F: ...


@overload
def hybrid_program(
    *,
    compiler: str | None = None,
    target: str | None = None,
    shots: int | None = None,
    optimization_level: int | None = None,
    seed: int | None = None,
    noise_model: str | dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Callable[[F], F]: ...


def hybrid_program(func: F | None = None, /, **options: Any) -> F | Callable[[F], F]:
    """Mark the program's entry function, bare (``@hybrid_program``) or with options.

    Options (literals): ``compiler`` and ``target`` (recorded; the job's target runs it),
    ``shots``, ``optimization_level``, ``seed``, ``noise_model`` (``"depolarizing:0.001"``
    or ``{"depolarizing": 0.001}``), ``metadata`` (the keys of ``spec.metadata``). The
    job's own settings (flags, ``spec.metadata``, ``spec.compiler``) win over these.
    The function may return any literal value, or a dict, built from literals and the
    attributes of the DSL values (``H.terms``, ``q.size``, ``opt.fun``, a ``Param``...);
    the job's result summary shows it (``returns`` for a dict, else ``returned``).
    """
    if func is not None:
        return _mark(func)
    return _mark


__all__ = [
    "ClassicalRegister",
    "DatasetRef",
    "ExpectationValue",
    "NotRunnableError",
    "Observable",
    "OptimizationResult",
    "Param",
    "QubitRegister",
    "ccx",
    "ccz",
    "cnot",
    "cx",
    "cz",
    "h",
    "hybrid_program",
    "load_dataset",
    "measure",
    "measure_all",
    "minimize",
    "optimizers",
    "pi",
    "reset",
    "rx",
    "ry",
    "rz",
    "s",
    "swap",
    "t",
    "x",
    "y",
    "z",
]
