"""Imports follow ARCHITECTURE section 4: they only go down the layers, siblings stay apart,
and ``import eigen.client`` loads neither qiskit, a database driver nor the server."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "eigen"

# What each package may import from eigen (besides itself). Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "models": {"errors"},
    "errors": set(),
    "proto": {"models", "errors"},
    "jobfile": {"models", "errors"},
    "config": {"models", "errors"},
    "observability": {"models", "errors"},
    "lang": {"models", "errors", "observability", "config"},
    "compiler": {"lang", "models", "errors", "observability", "config"},
    "drivers": {"models", "errors", "observability", "config"},
    "kernel": {"models", "errors", "observability", "config", "proto"},
    # security sits beside kernel: the edges and the composition root import it, the kernel
    # sees only a principal's tenant, as data
    "security": {"models", "errors", "observability", "config"},
    "system_api": {"security", "kernel", "models", "errors", "observability", "config", "proto", "jobfile"},
    "server": {"*"},
    "client": {"models", "errors", "proto", "jobfile", "observability"},
    # The CLI uses the client; it reaches the server package only to run the embedded stack
    # (or read its data folder) when no endpoint is configured, the compiler and drivers for
    # local `compile`, and config, as an entry point, for the settings of that folder.
    "cli": {"client", "models", "errors", "proto", "jobfile", "config", "server", "compiler", "drivers"},
}


def eigen_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eigen."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("eigen.")}
    return found


def test_imports_only_go_down() -> None:
    problems = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        package = relative.parts[0].removesuffix(".py")
        if package in ("__init__", "py"):
            continue
        allowed = ALLOWED[package]
        if "*" in allowed:
            continue
        for imported in eigen_imports(path) - {package}:
            if imported not in allowed:
                problems.append(f"{relative} imports eigen.{imported}")
    assert not problems, "\n".join(sorted(problems))


def test_client_import_is_light() -> None:
    code = (
        "import sys, eigen.client, eigen.client.client\n"
        "names = ('qiskit', 'qiskit_aer', 'sqlalchemy', 'psycopg',"
        " 'eigen.server', 'eigen.kernel')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"import eigen.client loaded: {loaded}"
