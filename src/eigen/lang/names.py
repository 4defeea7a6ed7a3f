"""The Eigen-Lang vocabulary and how a program's names resolve to it.

The vocabulary mirrors the ``eigen_lang`` stub package (a unit test keeps them equal).
:class:`Imports` records what the program imported under which local names and turns a
call's callee (``ry``, ``RY`` after ``import ... as``, ``el.ry``, ``optimizers.minimize``)
into the canonical DSL name. DSL names that were not imported still resolve (programs
written for the original stack sometimes relied on star imports), unless a local variable
or constant shadows them.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from eigen.errors import quote
from eigen.lang.diagnostics import fail

EIGEN_LANG = "eigen_lang"
OPTIMIZERS = "eigen_lang.optimizers"

GATE_NAMES = frozenset(
    {"rx", "ry", "rz", "x", "y", "z", "h", "s", "t", "cx", "cnot", "cz", "swap", "ccx", "ccz"}
)
MEASURE_NAMES = frozenset({"measure", "measure_all", "reset"})
TYPE_NAMES = frozenset(
    {
        "Param",
        "QubitRegister",
        "ClassicalRegister",
        "Observable",
        "ExpectationValue",
        "OptimizationResult",
        "DatasetRef",
    }
)
FUNCTION_NAMES = frozenset({"hybrid_program", "load_dataset", "minimize"})
CONSTANTS: dict[str, float] = {"pi": math.pi}

CALLABLE_NAMES = GATE_NAMES | MEASURE_NAMES | TYPE_NAMES | FUNCTION_NAMES
EXTRA_EXPORTS = frozenset({"NotRunnableError", "optimizers"})
EXPORTS: dict[str, frozenset[str]] = {
    EIGEN_LANG: CALLABLE_NAMES | frozenset(CONSTANTS) | EXTRA_EXPORTS,
    OPTIMIZERS: frozenset({"minimize"}),
}
SUBMODULES: dict[str, str] = {"optimizers": OPTIMIZERS}


@dataclass
class Imports:
    """The program's imports: local name -> DSL name, local name -> module."""

    names: dict[str, str] = field(default_factory=dict)
    modules: dict[str, str] = field(default_factory=dict)
    star: bool = False

    def add(self, node: ast.Import | ast.ImportFrom) -> None:
        """Record one import statement (already restricted to eigen_lang by the rules)."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    self.modules[alias.asname] = alias.name
                else:  # `import eigen_lang.optimizers` binds `eigen_lang`
                    self.modules[alias.name.split(".")[0]] = EIGEN_LANG
            return
        module = node.module or ""
        exports = EXPORTS.get(module, frozenset())
        for alias in node.names:
            if alias.name == "*":
                self.star = True
                continue
            if alias.name not in exports:
                fail(node, f"{quote(module)} has no name {quote(alias.name)}")
            local = alias.asname or alias.name
            submodule = f"{module}.{alias.name}"
            if submodule in EXPORTS:
                self.modules[local] = submodule
            else:
                self.names[local] = alias.name

    def module_of(self, node: ast.expr) -> str | None:
        """The eigen_lang module an expression names (``el``, ``eigen_lang.optimizers``)."""
        if isinstance(node, ast.Name):
            return self.modules.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.module_of(node.value)
            if base is not None and f"{base}.{node.attr}" in EXPORTS:
                return f"{base}.{node.attr}"
        return None

    def dsl_name(self, node: ast.expr) -> str | None:
        """The canonical DSL name ``node`` refers to, or None (locals are checked first)."""
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in self.modules:
                return None
            return node.id if node.id in EXPORTS[EIGEN_LANG] else None
        if isinstance(node, ast.Attribute):
            module = self.module_of(node.value)
            if module is None:
                return None
            if node.attr not in EXPORTS[module]:
                fail(node, f"{quote(module)} has no name {quote(node.attr)}")
            return node.attr
        return None
