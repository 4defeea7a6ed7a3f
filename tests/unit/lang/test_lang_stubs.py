"""The eigen_lang stub package: the names programs import, as markers."""

from __future__ import annotations

import pytest

import eigen_lang
from eigen.lang.names import EXPORTS, OPTIMIZERS
from eigen_lang import optimizers
from eigen_lang._types import Expr


def test_stub_exports_match_the_reader_vocabulary() -> None:
    assert set(eigen_lang.__all__) == set(EXPORTS["eigen_lang"])
    assert set(optimizers.__all__) == set(EXPORTS[OPTIMIZERS])
    for name in eigen_lang.__all__:
        assert hasattr(eigen_lang, name)


def test_markers_raise_a_clear_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="read by Eigen"):
        eigen_lang.ry(0, 0.1)
    with pytest.raises(RuntimeError, match="read by Eigen"):
        eigen_lang.minimize(eigen_lang.ExpectationValue("e"))

    @eigen_lang.hybrid_program(shots=10)
    def main() -> None:
        eigen_lang.h(0)

    @eigen_lang.hybrid_program
    def bare() -> None:
        eigen_lang.h(0)

    for entry in (main, bare):
        with pytest.raises(eigen_lang.NotRunnableError, match="not run as Python"):
            entry()


def test_value_types_construct() -> None:
    theta = eigen_lang.Param("theta", 0.1)
    assert (theta.name, theta.default) == ("theta", 0.1)
    assert isinstance(2 * theta - eigen_lang.pi, Expr)
    assert eigen_lang.QubitRegister(3).size == 3
    assert eigen_lang.ClassicalRegister(2).size == 2
    result = eigen_lang.OptimizationResult()
    assert (result.fun, result.x, result.method, result.objective, result.metadata) == (
        0.0,
        [],
        "",
        "",
        {},
    )
    assert eigen_lang.load_dataset("qfs://d", format="csv") == eigen_lang.DatasetRef("qfs://d", "csv")
