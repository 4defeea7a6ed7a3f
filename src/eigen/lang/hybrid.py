"""The classical part of a hybrid program: ``ExpectationValue``, ``minimize``, ``return``.

* ``e = ExpectationValue("energy", observable=H)``: ``H`` is an ``Observable`` (a variable
  or inline); the label names ``HybridSpec.observables[label]``. Labels are unique.
* ``opt = minimize(e, initial_params, method="COBYLA", max_iters=60, **options)``: at most
  one per program. ``objective`` is an ``ExpectationValue``; ``initial_params`` a list of
  numbers (``Param`` declaration order, one per ``Param``), a dict ``{"theta": 0.1}``
  (others keep their defaults), a list of ``Param`` s (their defaults) or omitted (the
  defaults). A ``Param`` without a default starts at 0.0. ``method``/``max_iters`` may
  be positional; other keyword options must be numbers, strings or booleans.
* ``return ...``: see :mod:`eigen.lang.returns` (the fields of the ``OptimizationResult``
  and ``ExpectationValue`` s are references resolved by the kernel).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from eigen.errors import quote
from eigen.lang.diagnostics import fail
from eigen.lang.expressions import Evaluator
from eigen.lang.signature import bind
from eigen.lang.values import ExpectationRef, ObservableValue, ParamValue, ResultRef, describe


@dataclass
class Minimize:
    """A ``minimize(...)`` call as read (``initial`` is resolved once all Params are known)."""

    objective: str
    line: int
    method: str = "COBYLA"
    max_iters: int | None = None
    initial: object = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class HybridParts:
    """The hybrid statements of one program."""

    expectations: dict[str, ObservableValue] = field(default_factory=dict)
    minimize: Minimize | None = None

    @property
    def is_hybrid(self) -> bool:
        return bool(self.expectations) or self.minimize is not None


def read_expectation(call: ast.Call, ev: Evaluator, parts: HybridParts) -> ExpectationRef:
    """``ExpectationValue(label, observable=...)``."""
    params = ("label", "observable")
    bound = bind(call, "ExpectationValue", params, required=params)
    label = ev.string(bound.args["label"], "the ExpectationValue label")
    if not label.strip():
        fail(call, "the ExpectationValue label must not be empty")
    if label in parts.expectations:
        fail(call, f"duplicate ExpectationValue label {quote(label)}")
    observable = ev.value(bound.args["observable"])
    if not isinstance(observable, ObservableValue):
        fail(call, f"observable= must be an Observable, not {describe(observable)}")
    parts.expectations[label] = observable
    return ExpectationRef(label)


def read_minimize(call: ast.Call, ev: Evaluator, parts: HybridParts) -> ResultRef:
    """``minimize(objective, initial_params, method=..., max_iters=..., **options)``."""
    if parts.minimize is not None:
        fail(call, f"only one minimize() per program (the first is on line {parts.minimize.line})")
    params = ("objective", "initial_params", "method", "max_iters")
    bound = bind(call, "minimize", params, required=("objective",), var_keyword=True)
    objective = ev.value(bound.args["objective"])
    if not isinstance(objective, ExpectationRef):
        fail(call, f"minimize() needs an ExpectationValue to minimise, not {describe(objective)}")
    found = Minimize(objective.label, call.lineno)
    if (node := bound.get("initial_params")) is not None:
        found.initial = ev.value(node)
    if (node := bound.get("method")) is not None:
        found.method = ev.string(node, "method")
        if not found.method.strip():
            fail(node, "method must not be empty")
    if (node := bound.get("max_iters")) is not None:
        found.max_iters = ev.integer(node, "max_iters")
        if found.max_iters < 1:
            fail(node, "max_iters must be at least 1")
    for name, node in bound.rest_keywords.items():
        value = ev.literal(node, f"option {quote(name)}")
        if not isinstance(value, int | float | str | bool):
            fail(node, f"option {quote(name)} must be a number, a string or a boolean")
        found.options[name] = value
    parts.minimize = found
    return ResultRef(objective.label)


def initial_params(found: Minimize | None, params: dict[str, ParamValue]) -> dict[str, float]:
    """Starting values for every Param (see the module docstring)."""
    values = {name: p.default if p.default is not None else 0.0 for name, p in params.items()}
    given = found.initial if found is not None else None
    line = found.line if found is not None else 1
    if given is None:
        return values
    if isinstance(given, dict):
        for name, value in given.items():
            if name not in params:
                fail(line, f"initial_params names {quote(name)}, which is not a declared Param")
            values[name] = _number(line, value, f"initial value of {quote(name)}")
        return values
    if isinstance(given, list | tuple):
        if all(isinstance(item, ParamValue) for item in given):
            return values
        if len(given) != len(params):
            fail(
                line,
                f"initial_params has {len(given)} values but the program declares "
                f"{len(params)} Params ({', '.join(params) or 'none'})",
            )
        for name, value in zip(params, given, strict=True):
            values[name] = _number(line, value, f"initial value of {quote(name)}")
        return values
    fail(line, f"initial_params must be a list or a dict, not {describe(given)}")


def _number(line: int, value: object, what: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    fail(line, f"{what} must be a number, not {describe(value)}")
