"""Evaluating the expressions an Eigen-Lang program may contain, without running it.

Only these forms have a value: literals (numbers, strings, booleans, ``None``, lists,
tuples, dicts), names bound earlier (module constants, variables of the function, DSL
values), ``pi``, arithmetic ``+ - * /`` and unary ``+ -`` on numbers and ``Param`` s
(giving a qiskit ``ParameterExpression``), indexing (``q[0]``, ``ANGLES[1]``), ``.size``
of a register, the fields of an ``OptimizationResult`` (``fun``, ``x``, ``method``,
``objective``, ``metadata``), ``.terms`` of an ``Observable`` (resolved once the circuit's
width is known), ``.name`` and ``.default`` of a ``Param``, ``.source`` and ``.format`` of
a dataset, and calls of DSL names (handed to the reader's call handler). Everything else
is refused with its line.

A name bound to a list stands for the whole list wherever it is used, so ``b = [a, a]``
doubles ``a``: twenty such lines make a value of a million items, which every walk of it
(a qubit list, an option, the decorator's ``metadata``) would expand. Each list, tuple
or dict built here therefore knows its expanded size (items, nested ones counted in full),
and one past :data:`~eigen.lang.rules.MAX_VALUE_ITEMS` is refused where it is written:
no value can hold more than a program could spell out.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from qiskit.circuit import ParameterExpression

from eigen.errors import quote
from eigen.lang.diagnostics import fail
from eigen.lang.names import CONSTANTS, Imports
from eigen.lang.rules import MAX_INT, MAX_QUBITS, MAX_VALUE_ITEMS
from eigen.lang.values import (
    Angle,
    ClassicalRegisterValue,
    ClbitRef,
    DatasetValue,
    ObservableValue,
    ParamValue,
    QubitRef,
    QubitRegisterValue,
    ResultField,
    ResultRef,
    TermsOf,
    describe,
)

CallHandler = Callable[[ast.Call], object]

RESULT_FIELDS = ("fun", "x", "method", "objective", "metadata")
PARAM_FIELDS = ("name", "default")
DATASET_FIELDS = ("source", "format")

_BINARY: dict[type[ast.operator], Callable[[object, object], object]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}

_UNSUPPORTED: dict[type[ast.AST], str] = {
    ast.Compare: "comparisons are",
    ast.BoolOp: "'and'/'or' are",
    ast.Set: "sets are",
    ast.Slice: "slices are",
}


class Evaluator:
    """Gives expressions their values; ``scope`` holds constants and variables."""

    def __init__(self, imports: Imports, on_call: CallHandler) -> None:
        self.imports = imports
        self.scope: dict[str, object] = {}
        self.on_call = on_call
        # id -> (the container, kept alive so its id is not reused; its expanded size)
        self._sizes: dict[int, tuple[object, int]] = {}

    # -- the general evaluator -------------------------------------------------------

    def value(self, node: ast.expr) -> object:
        """The value of ``node`` (any of the forms in the module docstring)."""
        if isinstance(node, ast.Constant):
            return _constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.List):
            items = [self.value(item) for item in node.elts]
            return self._sized(node, items, items)
        if isinstance(node, ast.Tuple):
            items = [self.value(item) for item in node.elts]
            return self._sized(node, tuple(items), items)
        if isinstance(node, ast.Dict):
            result = self._dict(node)
            return self._sized(node, result, [*result.keys(), *result.values()])
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call):
            return self.on_call(node)
        what = _UNSUPPORTED.get(type(node), f"{type(node).__name__} expressions are")
        fail(node, f"{what} not supported in Eigen-Lang")

    def _sized(self, node: ast.expr, container: object, items: list[object]) -> object:
        """``container`` once its expanded size is known to be within the limit."""
        size = 1 + sum(self.size_of(item) for item in items)
        if size > MAX_VALUE_ITEMS:
            fail(
                node,
                f"this value holds more than {MAX_VALUE_ITEMS} items once the names in it are "
                "expanded (lists of lists of the same names grow exponentially)",
            )
        self._sizes[id(container)] = (container, size)
        return container

    def size_of(self, value: object) -> int:
        """The expanded size of a value built here (1 for anything else)."""
        known = self._sizes.get(id(value))
        return known[1] if known is not None else 1

    def _name(self, node: ast.Name) -> object:
        if node.id in self.scope:
            return self.scope[node.id]
        dsl = self.imports.dsl_name(node)
        if dsl in CONSTANTS:
            return CONSTANTS[dsl]
        if dsl is not None or node.id in self.imports.modules:
            fail(node, f"{quote(node.id)} is an Eigen-Lang name; it can only be called here")
        fail(
            node,
            f"unknown name {quote(node.id)} (use Eigen-Lang names, module constants or "
            "variables assigned earlier)",
        )

    def _unary(self, node: ast.UnaryOp) -> object:
        if not isinstance(node.op, ast.USub | ast.UAdd):
            fail(node, "only unary '+' and '-' are supported in Eigen-Lang")
        operand = self._arith(node.operand)
        return _checked(node, -operand if isinstance(node.op, ast.USub) else operand)

    def _binary(self, node: ast.BinOp) -> object:
        op = _BINARY.get(type(node.op))
        if op is None:
            fail(node, "only the operators + - * / are supported in Eigen-Lang")
        left, right = self._arith(node.left), self._arith(node.right)
        try:
            result = op(left, right)
        except ZeroDivisionError:
            fail(node, "division by zero")
        except (ArithmeticError, TypeError, ValueError) as exc:
            fail(node, f"invalid arithmetic: {exc}")
        return _checked(node, result)

    def _arith(self, node: ast.expr) -> int | float | ParameterExpression:
        value = self.value(node)
        if isinstance(value, ParamValue):
            return value.parameter
        if isinstance(value, ParameterExpression):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        fail(node, f"arithmetic works on numbers and Params, not on {describe(value)}")

    def _dict(self, node: ast.Dict) -> dict[object, object]:
        result: dict[object, object] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            if key_node is None:
                fail(value_node, "'**' in dicts is not allowed in Eigen-Lang")
            key = self.value(key_node)
            if not isinstance(key, str | int | float | bool):
                fail(key_node, f"a dict key must be a string or a number, not {describe(key)}")
            if key in result:
                fail(key_node, f"duplicate key {quote(key)}")
            result[key] = self.value(value_node)
        return result

    def _subscript(self, node: ast.Subscript) -> object:
        base = self.value(node.value)
        if isinstance(node.slice, ast.Slice):
            fail(node, "slices are not supported in Eigen-Lang")
        if isinstance(base, dict):
            key = self.value(node.slice)
            if not isinstance(key, str | int | float | bool) or key not in base:
                fail(node, f"key {quote(key)} not found")
            return base[key]
        index = self.integer(node.slice, "an index")
        if isinstance(base, QubitRegisterValue | ClassicalRegisterValue | list | tuple):
            size = base.size if not isinstance(base, list | tuple) else len(base)
            if not -size <= index < size:
                fail(node, f"index {index} is out of range for {describe(base)} of size {size}")
            index %= size
            if isinstance(base, QubitRegisterValue):
                return QubitRef(base.offset + index)
            if isinstance(base, ClassicalRegisterValue):
                return ClbitRef(base.offset + index)
            return base[index]
        fail(node, f"{describe(base)} cannot be indexed")

    def _attribute(self, node: ast.Attribute) -> object:
        if self.imports.module_of(node.value) is not None:
            dsl = self.imports.dsl_name(node)
            if dsl in CONSTANTS:
                return CONSTANTS[dsl]
            fail(node, f"{quote(dsl or node.attr)} is an Eigen-Lang name; it can only be called here")
        base = self.value(node.value)
        if isinstance(base, QubitRegisterValue | ClassicalRegisterValue) and node.attr == "size":
            return base.size
        if isinstance(base, ResultRef) and node.attr in RESULT_FIELDS:
            return ResultField(node.attr)
        if isinstance(base, ObservableValue) and node.attr == "terms":
            return TermsOf(base)
        if isinstance(base, ParamValue) and node.attr in PARAM_FIELDS:
            return base.name if node.attr == "name" else base.default
        if isinstance(base, DatasetValue) and node.attr in DATASET_FIELDS:
            return base.source if node.attr == "source" else base.format
        fail(node, f"{describe(base)} has no attribute {quote(node.attr)} in Eigen-Lang")

    # -- typed views -------------------------------------------------------------------

    def integer(self, node: ast.expr, what: str) -> int:
        value = self.value(node)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        fail(node, f"{what} must be an integer, not {describe(value)}")

    def number(self, node: ast.expr, what: str) -> float:
        value = self.value(node)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        fail(node, f"{what} must be a number, not {describe(value)}")

    def string(self, node: ast.expr, what: str) -> str:
        value = self.value(node)
        if isinstance(value, str):
            return value
        fail(node, f"{what} must be a string, not {describe(value)}")

    def angle(self, node: ast.expr) -> Angle:
        """A rotation angle: a number, a Param, or arithmetic of those and ``pi``."""
        value = self.value(node)
        if isinstance(value, ParamValue):
            return value.parameter
        if isinstance(value, ParameterExpression):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        fail(node, f"an angle must be a number or a Param expression, not {describe(value)}")

    def qubits(self, node: ast.expr) -> list[int]:
        """Qubit indices: an int, ``q[i]``, a whole register, or a list of those."""
        return _indices(node, self.value(node), QubitRef, QubitRegisterValue, "qubit")

    def clbits(self, node: ast.expr) -> list[int]:
        """Classical bit indices: an int, ``c[i]``, a whole register, or a list of those."""
        return _indices(node, self.value(node), ClbitRef, ClassicalRegisterValue, "classical bit")

    def qubit(self, node: ast.expr) -> int:
        """Exactly one qubit."""
        value = self.value(node)
        indices = _indices(node, value, QubitRef, QubitRegisterValue, "qubit")
        if isinstance(value, list | tuple | QubitRegisterValue):
            fail(node, f"expected one qubit, got {describe(value)}")
        return indices[0]

    def literal(self, node: ast.expr, what: str) -> object:
        """Plain data (numbers, strings, booleans, None, lists, dicts with string keys)."""
        return _plain(node, self.value(node), what)


def _constant(node: ast.Constant) -> object:
    value = node.value
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return _checked(node, value)
    fail(node, f"{type(value).__name__} literals are not supported in Eigen-Lang")


def _checked(node: ast.AST, value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) >= MAX_INT:
        fail(node, "integer too large")
    if isinstance(value, float) and not math.isfinite(value):
        fail(node, "numbers must be finite")
    return value


def _indices(
    node: ast.expr, value: object, ref: type[QubitRef | ClbitRef], register: type, what: str
) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < MAX_QUBITS:
            fail(node, f"{what} index {value} must be between 0 and {MAX_QUBITS - 1}")
        return [value]
    if isinstance(value, ref):
        return [value.index]
    if isinstance(value, register):
        assert isinstance(value, QubitRegisterValue | ClassicalRegisterValue)
        return list(range(value.offset, value.offset + value.size))
    if isinstance(value, list | tuple):
        result: list[int] = []
        for item in value:
            result.extend(_indices(node, item, ref, register, what))
        return result
    fail(node, f"a {what} must be an integer index or register[i], not {describe(value)}")


def _plain(node: ast.expr, value: object, what: str) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(node, item, what) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(node, item, what) for key, item in value.items()}
    fail(node, f"{what} must be a literal (numbers, strings, lists, dicts), not {describe(value)}")
