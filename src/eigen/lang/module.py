"""The top level of a program: imports, constants and the one ``@hybrid_program`` function.

Allowed at the top level: imports from ``eigen_lang``, string expressions (docstrings),
``pass``, assignments ``NAME = value`` (constants, and declarative DSL values such as
``Param``, ``Observable`` or registers) and exactly one function decorated with
``@hybrid_program`` or ``@hybrid_program(...)``, taking no arguments, whose name is the
job's entrypoint.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from eigen.errors import quote
from eigen.lang.diagnostics import fail
from eigen.lang.expressions import Evaluator
from eigen.lang.names import Imports
from eigen.lang.signature import bind

DECORATOR_OPTIONS = (
    "compiler",
    "target",
    "shots",
    "optimization_level",
    "seed",
    "noise_model",
    "metadata",
)


@dataclass
class ModuleParts:
    """The top-level statements of a program, sorted by role."""

    function: ast.FunctionDef
    decorator: ast.expr
    assignments: list[ast.Assign | ast.AnnAssign] = field(default_factory=list)


def split_module(tree: ast.Module, entrypoint: str, imports: Imports) -> ModuleParts:
    """Check the top level, record the imports into ``imports`` and find the entrypoint."""
    functions: list[tuple[ast.FunctionDef, ast.expr]] = []
    assignments: list[ast.Assign | ast.AnnAssign] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            imports.add(stmt)
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            assignments.append(stmt)
        elif isinstance(stmt, ast.FunctionDef):
            functions.append((stmt, _hybrid_decorator(stmt, imports)))
        elif isinstance(stmt, ast.Pass) or _is_docstring(stmt):
            continue
        else:
            fail(
                stmt,
                f"{statement_name(stmt)} is not allowed at the top level of an Eigen-Lang "
                "program (only imports, constants and the @hybrid_program function)",
            )
    if not functions:
        fail(1, "no function decorated with @hybrid_program")
    if len(functions) > 1:
        found = ", ".join(f"{quote(func.name)} (line {func.lineno})" for func, _ in functions)
        fail(functions[1][0], f"exactly one @hybrid_program function is allowed; found {found}")
    function, decorator = functions[0]
    if function.name != entrypoint:
        fail(
            function,
            f"entrypoint {quote(entrypoint)} not found: the @hybrid_program function is named "
            f"{quote(function.name)} (set spec.entrypoint to {quote(function.name)} or rename it)",
        )
    arguments = function.args
    if arguments.posonlyargs or arguments.args or arguments.vararg or arguments.kwonlyargs or arguments.kwarg:
        fail(function, "the @hybrid_program function takes no arguments")
    return ModuleParts(function, decorator, assignments)


def _hybrid_decorator(func: ast.FunctionDef, imports: Imports) -> ast.expr:
    if not func.decorator_list:
        fail(
            func,
            f"only the @hybrid_program function may be defined; {quote(func.name)} is not "
            "decorated with @hybrid_program",
        )
    if len(func.decorator_list) > 1:
        fail(func.decorator_list[1], "the @hybrid_program function takes no other decorators")
    decorator = func.decorator_list[0]
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if imports.dsl_name(target) != "hybrid_program":
        fail(decorator, f"{quote(func.name)} may only be decorated with @hybrid_program")
    return decorator


def decorator_options(decorator: ast.expr, ev: Evaluator) -> dict[str, Any]:
    """The literal keyword arguments of ``@hybrid_program(...)``, checked."""
    if not isinstance(decorator, ast.Call):
        return {}
    bound = bind(decorator, "hybrid_program", (), keyword_only=DECORATOR_OPTIONS)
    options: dict[str, Any] = {}
    for name in DECORATOR_OPTIONS:
        node = bound.get(name)
        if node is None:
            continue
        value = ev.literal(node, f"@hybrid_program {name}")
        _check_option(node, name, value)
        options[name] = value
    return options


def _check_option(node: ast.expr, name: str, value: object) -> None:
    integer = isinstance(value, int) and not isinstance(value, bool)
    if name in ("compiler", "target") and not isinstance(value, str):
        fail(node, f"@hybrid_program {name} must be a string")
    if name == "shots" and not (integer and isinstance(value, int) and value >= 1):
        fail(node, "@hybrid_program shots must be a positive integer")
    if name == "optimization_level" and not (integer and value in (0, 1, 2, 3)):
        fail(node, "@hybrid_program optimization_level must be 0, 1, 2 or 3")
    if name == "seed" and not (integer and isinstance(value, int) and value >= 0):
        fail(node, "@hybrid_program seed must be a non-negative integer")
    if name == "noise_model" and not (value is None or isinstance(value, str | dict)):
        fail(node, "@hybrid_program noise_model must be a string or a dict")
    if name == "metadata" and not isinstance(value, dict):
        fail(node, "@hybrid_program metadata must be a dict")


def _is_docstring(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
    )


def statement_name(stmt: ast.stmt) -> str:
    """A readable name of a statement kind, for error messages."""
    names: dict[type[ast.stmt], str] = {
        ast.Expr: "an expression statement",
        ast.Return: "'return'",
        ast.AugAssign: "augmented assignment ('+=')",
        ast.Import: "'import'",
        ast.ImportFrom: "'import'",
        ast.FunctionDef: "a nested function",
        ast.Break: "'break'",
        ast.Continue: "'continue'",
    }
    return names.get(type(stmt), f"a '{type(stmt).__name__}' statement")
