"""The ``return`` of the ``@hybrid_program`` function: what the job's result summary shows.

A program may return any value built from literals (numbers, strings, booleans, ``None``,
lists, tuples, dicts with string keys) and these, each replaced by its value once known:

* the fields of the ``minimize`` result: ``opt.fun``, ``opt.x``, ``opt.method``,
  ``opt.objective``, ``opt.metadata``;
* an ``ExpectationValue`` variable (its value at the optimum);
* a ``Param`` (its final value: the optimum of a hybrid program, the bound or default value
  of a plain one); ``p.name`` and ``p.default`` are plain values;
* ``H.terms`` of an ``Observable`` (or the ``Observable`` itself): its terms as
  ``[[label, weight], ...]`` in Qiskit order, as wide as the circuit;
* ``q.size`` / ``c.size`` of a register (an int), a dataset (``{"source", "format"}``).

The value is read here into a template (:class:`~eigen.models.compiled.ProgramReturns`,
with :class:`~eigen.models.compiled.ReturnRef` where a run-time value goes); the kernel
resolves it. A dict goes to ``summary["returns"]``, any other value to
``summary["returned"]``. ``return`` alone and ``return None`` return nothing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from qiskit.circuit import ParameterExpression

from eigen.errors import quote
from eigen.lang.diagnostics import Where, fail
from eigen.lang.expressions import Evaluator
from eigen.lang.observable import observable_terms
from eigen.lang.values import (
    ClassicalRegisterValue,
    DatasetValue,
    ExpectationRef,
    ObservableValue,
    ParamValue,
    QubitRegisterValue,
    ResultField,
    ResultRef,
    TermsOf,
    describe,
)
from eigen.models.compiled import EXPECTATION_REF, PARAM_REF, ProgramReturns, ReturnRef

_REFUSED_HINTS: dict[type, str] = {
    ResultRef: (
        "return values must be fields of the minimize() result (opt.fun, opt.x, opt.method, "
        "opt.objective, opt.metadata), not the OptimizationResult itself"
    ),
    QubitRegisterValue: "a QubitRegister cannot be returned; return its .size",
    ClassicalRegisterValue: "a ClassicalRegister cannot be returned; return its .size",
}


@dataclass(frozen=True)
class RawReturn:
    """A return value as read: data with references, Observables still to be widened."""

    value: object


def read_return(node: ast.Return, ev: Evaluator) -> RawReturn | None:
    """The returned value (None for ``return`` and ``return None``)."""
    if node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None):
        return None
    if isinstance(node.value, ast.Dict):  # the usual form: keys and values with their lines
        returned: dict[str, object] = {}
        for key_node, value_node in zip(node.value.keys, node.value.values, strict=True):
            if key_node is None:
                fail(value_node, "'**' in dicts is not allowed in Eigen-Lang")
            key = ev.string(key_node, "a return key")
            if key in returned:
                fail(key_node, f"duplicate return key {quote(key)}")
            returned[key] = _template(ev.value(value_node), value_node)
        return RawReturn(returned)
    return RawReturn(_template(ev.value(node.value), node.value))


def _template(value: object, where: Where) -> object:
    """``value`` as JSON data with references (see the module docstring)."""
    if value is None or isinstance(value, bool | str | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_template(item, where) for item in value]
    if isinstance(value, dict):
        result: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                fail(where, f"a returned dict's keys must be strings, not {describe(key)} {quote(key)}")
            result[key] = _template(item, where)
        return result
    if isinstance(value, ResultField):
        return ReturnRef(value.path)
    if isinstance(value, ExpectationRef):
        return ReturnRef(f"{EXPECTATION_REF}{value.label}")
    if isinstance(value, ParamValue):
        return ReturnRef(f"{PARAM_REF}{value.name}")
    if isinstance(value, ObservableValue):
        return TermsOf(value)
    if isinstance(value, TermsOf):
        return value
    if isinstance(value, DatasetValue):
        return {"source": value.source, "format": value.format}
    if isinstance(value, ParameterExpression):
        fail(where, "a parameter expression cannot be returned; return the Param itself")
    hint = _REFUSED_HINTS.get(type(value))
    fail(where, hint or f"{describe(value)} cannot be returned")


def finish_returns(raw: RawReturn | None, width: int) -> ProgramReturns | None:
    """The template, each Observable's terms now at the circuit's ``width``."""
    if raw is None:
        return None
    return ProgramReturns(_widen(raw.value, width))


def _widen(value: object, width: int) -> object:
    if isinstance(value, TermsOf):
        return [[label, weight] for label, weight in observable_terms(value.observable, width)]
    if isinstance(value, dict):
        return {key: _widen(item, width) for key, item in value.items()}
    if isinstance(value, list):
        return [_widen(item, width) for item in value]
    return value


def flat_returns(returns: ProgramReturns | None) -> dict[str, str]:
    """The keys of a returned dict whose value is one reference: key -> path
    (:attr:`~eigen.models.compiled.HybridSpec.returns`)."""
    if returns is None or not isinstance(returns.value, dict):
        return {}
    return {key: ref.path for key, ref in returns.value.items() if isinstance(ref, ReturnRef)}
