"""What an Eigen-Lang program may contain: size limits and forbidden constructs.

:func:`parse_checked` is the only place the source is parsed (``ast.parse``: parsing
never runs code). It enforces the limits, then walks the whole tree in source order and
rejects the first forbidden construct with its line. What is *allowed* (which calls, which
statements) is decided by the reader; this module is the blanket deny list, so that a
program that would touch the file system, the network or the interpreter if it were run
is refused with a clear message before anything else looks at it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from eigen.lang.diagnostics import fail
from eigen.models.program import MAX_PROGRAM_BYTES

MAX_SOURCE_BYTES = MAX_PROGRAM_BYTES  # 256 KiB
MAX_AST_NODES = 50_000  # every node ast.walk yields, the Module included
MAX_AST_DEPTH = 200  # the Module is depth 1
MAX_QUBITS = 1024  # total width of a program's circuit
MAX_OPERATIONS = 200_000  # circuit instructions after expanding measure_all() and registers
MAX_INT = 2**63  # integer constants and integer arithmetic stay below this
MAX_VALUE_ITEMS = MAX_AST_NODES  # items of a list, tuple or dict value, names expanded
PROGRAM_FILENAME = "program.eigen.py"

ALLOWED_MODULES = frozenset({"eigen_lang", "eigen_lang.optimizers"})

_FORBIDDEN_NODES: dict[type[ast.AST], str] = {
    ast.If: "'if' statements are",
    ast.For: "'for' loops are",
    ast.AsyncFor: "'async for' loops are",
    ast.While: "'while' loops are",
    ast.Match: "'match' statements are",
    ast.IfExp: "conditional expressions ('a if c else b') are",
    ast.Lambda: "lambdas are",
    ast.Try: "'try' statements are",
    ast.TryStar: "'try' statements are",
    ast.With: "'with' statements are",
    ast.AsyncWith: "'async with' statements are",
    ast.ClassDef: "classes are",
    ast.AsyncFunctionDef: "async functions are",
    ast.Await: "'await' is",
    ast.Global: "'global' statements are",
    ast.Nonlocal: "'nonlocal' statements are",
    ast.ListComp: "comprehensions are",
    ast.SetComp: "comprehensions are",
    ast.DictComp: "comprehensions are",
    ast.GeneratorExp: "generator expressions are",
    ast.Yield: "'yield' is",
    ast.YieldFrom: "'yield from' is",
    ast.Delete: "'del' statements are",
    ast.Raise: "'raise' statements are",
    ast.Assert: "'assert' statements are",
    ast.NamedExpr: "assignment expressions (':=') are",
    ast.Starred: "star arguments ('*args') are",
    ast.JoinedStr: "f-strings are",
}

# Names that reach the interpreter, files or modules: refused wherever they appear.
FORBIDDEN_NAMES = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "hasattr",
        "globals",
        "locals",
        "vars",
        "dir",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
    }
)

# Modules whose attributes a program must never reach (they are not importable anyway).
FORBIDDEN_MODULES = frozenset(
    {
        "os",
        "sys",
        "subprocess",
        "socket",
        "builtins",
        "shutil",
        "pathlib",
        "importlib",
        "ctypes",
        "io",
        "pickle",
        "marshal",
        "signal",
        "threading",
        "multiprocessing",
        "urllib",
        "http",
        "requests",
    }
)


def parse_checked(source: str) -> ast.Module:
    """Parse ``source`` and apply every limit and the deny list; raises InvalidArgument."""
    if not isinstance(source, str):
        fail(1, "the program must be text")
    size = len(source.encode("utf-8", errors="surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        fail(1, f"the program is {size} bytes; the limit is {MAX_SOURCE_BYTES} bytes (256 KiB)")
    try:
        tree = ast.parse(source, filename=PROGRAM_FILENAME, mode="exec")
    except SyntaxError as exc:
        fail(exc.lineno or 1, f"syntax error: {exc.msg}")
    except (ValueError, RecursionError, MemoryError) as exc:
        fail(1, f"the program cannot be parsed: {exc}")
    check_limits(tree)
    check_constructs(tree)
    return tree


def check_limits(tree: ast.Module) -> None:
    """At most :data:`MAX_AST_NODES` nodes, nested at most :data:`MAX_AST_DEPTH` deep."""
    for count, (_node, depth, line) in enumerate(_walk(tree), start=1):
        if count > MAX_AST_NODES:
            fail(line, f"the program has more than {MAX_AST_NODES} syntax nodes")
        if depth > MAX_AST_DEPTH:
            fail(line, f"the program is nested more than {MAX_AST_DEPTH} levels deep")


def check_constructs(tree: ast.Module) -> None:
    """Reject the first forbidden construct, import or name (in source order)."""
    for node, _depth, line in _walk(tree):
        what = _FORBIDDEN_NODES.get(type(node))
        if what is not None:
            fail(line, f"{what} not allowed in Eigen-Lang")
        if isinstance(node, ast.Import | ast.ImportFrom):
            _check_import(node, line)
        elif isinstance(node, ast.Name):
            _check_name(node.id, line)
        elif isinstance(node, ast.Attribute):
            _check_attribute(node, line)
        elif isinstance(node, ast.keyword) and node.arg is None:
            fail(line, "'**' arguments are not allowed in Eigen-Lang")
        elif isinstance(node, ast.arg):
            _check_name(node.arg, line)


def _check_import(node: ast.Import | ast.ImportFrom, line: int) -> None:
    if isinstance(node, ast.ImportFrom):
        modules = ["." * node.level + (node.module or "")]
    else:
        modules = [alias.name for alias in node.names]
    for module in modules:
        if module not in ALLOWED_MODULES:
            fail(
                line,
                f"import of '{module}' is not allowed: Eigen-Lang programs may import only "
                "from eigen_lang (and eigen_lang.optimizers)",
            )


def _check_name(name: str, line: int) -> None:
    if name in FORBIDDEN_NAMES:
        fail(line, f"'{name}' is not allowed in Eigen-Lang")
    if name in FORBIDDEN_MODULES:
        fail(line, f"'{name}' is not allowed in Eigen-Lang (no os/sys/subprocess/socket access)")
    if name.startswith("__") and name.endswith("__"):
        fail(line, f"dunder names such as '{name}' are not allowed in Eigen-Lang")


def _check_attribute(node: ast.Attribute, line: int) -> None:
    attr = node.attr
    if attr.startswith("_"):
        fail(line, f"private attributes such as '.{attr}' are not allowed in Eigen-Lang")
    if isinstance(node.value, ast.Name) and node.value.id in FORBIDDEN_MODULES:
        fail(
            line,
            f"access to '{node.value.id}.{attr}' is not allowed in Eigen-Lang "
            "(no os/sys/subprocess/socket/builtins access)",
        )


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, int, int]]:
    """Every node in source order, with its depth and its line (a parent's if it has none)."""
    stack: list[tuple[ast.AST, int, int]] = [(tree, 1, 1)]
    while stack:
        node, depth, inherited = stack.pop()
        line = getattr(node, "lineno", None) or inherited
        yield node, depth, line
        children = list(ast.iter_child_nodes(node))
        stack.extend((child, depth + 1, line) for child in reversed(children))
