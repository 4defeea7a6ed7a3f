"""Parameter-expression strings (as qiskit prints them) back to ``ParameterExpression``.

qiskit can print a ``ParameterExpression`` (``"1 + 2*theta"``, ``"sin(phi + theta)"``,
``"x[0]**2"``) but has no parser for that text, so AQO needs this small one. It walks a
Python ``ast`` of the text and allows only numbers, declared parameter names (a
``ParameterVector`` element ``x[0]`` is the parameter named ``"x[0]"``), ``pi``, the
operators ``+ - * / **`` and the functions ``ParameterExpression`` offers. Nothing is
ever evaluated as Python.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from qiskit.circuit import Parameter, ParameterExpression

from eigen.errors import InvalidArgument, quote

MAX_EXPRESSION_CHARS = 2_000

Value: TypeAlias = "float | ParameterExpression"

# function name -> (ParameterExpression method, math function for plain numbers)
_FUNCTIONS: dict[str, tuple[str, Callable[[float], float]]] = {
    "sin": ("sin", math.sin),
    "cos": ("cos", math.cos),
    "tan": ("tan", math.tan),
    "asin": ("arcsin", math.asin),
    "acos": ("arccos", math.acos),
    "atan": ("arctan", math.atan),
    "arcsin": ("arcsin", math.asin),
    "arccos": ("arccos", math.acos),
    "arctan": ("arctan", math.atan),
    "exp": ("exp", math.exp),
    "log": ("log", math.log),
    "abs": ("abs", abs),
    "sign": ("sign", lambda x: float((x > 0) - (x < 0))),
    "conjugate": ("conjugate", lambda x: x),
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_CONSTANTS = {"pi": math.pi, "π": math.pi}


def parse_expression(text: str, symbols: Mapping[str, Parameter]) -> Value:
    """A number or ``ParameterExpression`` over ``symbols`` (name -> Parameter)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        raise InvalidArgument(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    if text in symbols:  # the common case: a bare parameter name
        return symbols[text]
    try:
        tree = ast.parse(text.strip(), mode="eval")
        value = _evaluate(tree.body, symbols)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid expression {quote(text)}: {exc.message}") from None
    except (SyntaxError, ValueError, TypeError, ArithmeticError, RecursionError) as exc:
        raise InvalidArgument(f"invalid expression {quote(text)}: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(f"invalid expression {quote(text)}: not a finite number")
    return value


def _evaluate(node: ast.expr, symbols: Mapping[str, Parameter]) -> Value:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise InvalidArgument(f"unsupported constant {quote(node.value)}")
        return float(node.value)  # float, so '9**9**9' overflows instead of running forever
    if isinstance(node, ast.Name):
        return _lookup(node.id, symbols)
    if isinstance(node, ast.Subscript):  # ParameterVector element, e.g. x[0]
        if (
            isinstance(node.value, ast.Name)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)
        ):
            return _lookup(f"{node.value.id}[{node.slice.value}]", symbols)
        raise InvalidArgument("only parameter-vector elements such as x[0] may be indexed")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _evaluate(node.operand, symbols)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left = _evaluate(node.left, symbols)
        right = _evaluate(node.right, symbols)
        result: Value = _BINARY[type(node.op)](left, right)
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in _FUNCTIONS or len(node.args) != 1:
            raise InvalidArgument(f"unsupported function {quote(node.func.id)}")
        method, numeric = _FUNCTIONS[node.func.id]
        argument = _evaluate(node.args[0], symbols)
        if isinstance(argument, ParameterExpression):
            expression: ParameterExpression = getattr(argument, method)()
            return expression
        return float(numeric(argument))
    # the text itself, not the ast class ("Subscript"), which names nothing the user wrote
    raise InvalidArgument(f"unsupported syntax {quote(ast.unparse(node), 60)} in a parameter expression")


def _lookup(name: str, symbols: Mapping[str, Parameter]) -> Value:
    if name in symbols:
        return symbols[name]
    if name in _CONSTANTS:
        return _CONSTANTS[name]
    raise InvalidArgument(f"parameter {quote(name)} is not declared in 'parameters'")
