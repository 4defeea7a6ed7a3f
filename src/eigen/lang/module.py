"""The top level of a program: imports, constants and the one ``@hybrid_program`` function.

Allowed at the top level: imports from ``eigen_lang``, string expressions (docstrings),
``pass``, assignments ``NAME = value`` (constants, and declarative DSL values such as
``Param``, ``Observable`` or registers) and exactly one function decorated with
``@hybrid_program`` or ``@hybrid_program(...)``, taking no arguments, whose name is the
job's entrypoint.

``@hybrid_program(...)`` takes keyword literals only (:func:`decorator_options`):
``compiler`` and ``target`` (strings, recorded), ``shots`` (>= 1), ``seed`` (>= 0),
``optimization_level`` (0-3), ``noise_model`` (a noise model by name,
``"depolarizing:0.001"``, or a dict ``{"depolarizing": 0.001}``; checked here with
:func:`eigen.models.noise.parse_noise_model`) and ``metadata`` (a dict with the keys of
``spec.metadata``). A ``metadata`` entry for ``shots``, ``seed``, ``optimization_level``
or ``noise_model`` fills that setting when its keyword is not given, so the returned
options hold the program's effective value of each; the job's own settings win over all
of them (docs/eigen-lang.md, "Settings and their precedence").
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from eigen.errors import InvalidArgument, quote
from eigen.lang.diagnostics import fail
from eigen.lang.expressions import Evaluator
from eigen.lang.names import Imports
from eigen.lang.signature import bind
from eigen.models.noise import NOISE_OPTION, parse_noise_model

DECORATOR_OPTIONS = (
    "compiler",
    "target",
    "shots",
    "optimization_level",
    "seed",
    "noise_model",
    "metadata",
)
# metadata keys that fill a decorator setting, and the metadata keys the kernel reads
FILLED_FROM_METADATA = ("shots", "seed", "optimization_level", NOISE_OPTION)
MAX_ITERS_LIMIT = 100_000
ESTIMATORS = ("exact", "shots")


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
        if name == NOISE_OPTION and value is not None:
            value = _noise_model(node, value, f"@hybrid_program {name}")
        options[name] = value
    metadata = options.get("metadata")
    if isinstance(metadata, dict):
        node = bound.args["metadata"]
        _check_metadata(node, metadata)
        for name in FILLED_FROM_METADATA:
            if name not in options and metadata.get(name) is not None:
                value = metadata[name]
                if name == NOISE_OPTION:
                    value = _noise_model(node, value, "@hybrid_program metadata noise_model")
                options[name] = value
    return options


def _noise_model(node: ast.expr, value: object, what: str) -> str:
    """The noise model as text (a dict ``{name: p}`` joined as ``name:p,...``), parsed."""
    if isinstance(value, dict):
        parts = []
        for name, parameter in value.items():
            if isinstance(parameter, bool) or not isinstance(parameter, int | float):
                fail(node, f"{what}: the parameter of {quote(name)} must be a number")
            parts.append(f"{name}:{parameter!r}")
        value = ",".join(parts)
    if not isinstance(value, str):
        fail(node, f"{what} must be a noise model such as 'depolarizing:0.001'")
    if value.strip().lower() in ("", "none"):
        return value.strip()
    try:
        parse_noise_model(value, "program")
    except InvalidArgument as exc:
        fail(node, f"{what}: {exc.violations[0].description if exc.violations else exc.message}")
    return value.strip()


def _check_metadata(node: ast.expr, metadata: dict[Any, Any]) -> None:
    """The keys of ``spec.metadata`` the kernel reads have their types; others are kept."""
    for key, value in metadata.items():
        what = f"@hybrid_program metadata {quote(key)}"
        integer = isinstance(value, int) and not isinstance(value, bool)
        if not isinstance(key, str):
            fail(node, f"@hybrid_program metadata keys must be strings, not {quote(key)}")
        if key in ("shots", "seed") and not (integer and value >= 0):
            fail(node, f"{what} must be a non-negative integer")
        if key == "optimization_level" and not (integer and value in (0, 1, 2, 3)):
            fail(node, f"{what} must be 0, 1, 2 or 3")
        if key == "max_iters" and not (integer and 1 <= value <= MAX_ITERS_LIMIT):
            fail(node, f"{what} must be an integer between 1 and {MAX_ITERS_LIMIT}")
        if key == "optimizer" and not (isinstance(value, str) and value.strip()):
            fail(node, f"{what} must be an optimiser name")
        if key == "estimator" and not (isinstance(value, str) and value.lower() in ESTIMATORS):
            fail(node, f"{what} must be one of {', '.join(ESTIMATORS)}")


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
        fail(node, "@hybrid_program noise_model must be a string (e.g. 'depolarizing:0.001') or a dict")
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
