"""Binding a DSL call's arguments to parameter names, the way Python would."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field

from eigen.lang.diagnostics import fail


@dataclass
class Bound:
    """A call's arguments by parameter name (``rest``: extra positionals/keywords)."""

    args: dict[str, ast.expr] = field(default_factory=dict)
    rest_positional: list[ast.expr] = field(default_factory=list)
    rest_keywords: dict[str, ast.expr] = field(default_factory=dict)

    def get(self, name: str) -> ast.expr | None:
        return self.args.get(name)


def bind(
    call: ast.Call,
    func: str,
    params: Sequence[str],
    *,
    required: Sequence[str] = (),
    var_positional: bool = False,
    var_keyword: bool = False,
    keyword_only: Sequence[str] = (),
) -> Bound:
    """Bind ``call`` to ``func(params..., *rest, keyword_only..., **rest)``.

    With ``var_positional`` every positional argument goes to ``rest_positional`` and
    ``params`` are keyword-only (like ``measure(*qubits, basis=..., c=...)``).
    """
    bound = Bound()
    positional_names = [] if var_positional else list(params)
    if len(call.args) > len(positional_names) and not var_positional:
        fail(
            call,
            f"{func}() takes at most {len(positional_names)} positional arguments ({len(call.args)} given)",
        )
    if var_positional:
        bound.rest_positional = list(call.args)
    else:
        for param, arg in zip(positional_names, call.args, strict=False):
            bound.args[param] = arg
    known = set(params) | set(keyword_only)
    for keyword in call.keywords:
        if keyword.arg is None:
            fail(keyword, "'**' arguments are not allowed in Eigen-Lang")
        name = keyword.arg
        if name in bound.args or name in bound.rest_keywords:
            fail(keyword, f"{func}() got multiple values for argument '{name}'")
        if name in known:
            bound.args[name] = keyword.value
        elif var_keyword:
            bound.rest_keywords[name] = keyword.value
        else:
            allowed = ", ".join(sorted(known)) or "none"
            fail(
                keyword,
                f"{func}() got an unexpected keyword argument '{name}' (allowed: {allowed})",
            )
    for name in required:
        if name not in bound.args:
            fail(call, f"{func}() is missing the argument '{name}'")
    return bound
