"""pyproject.toml declares what is needed, no more: the core dependencies are exactly what
``import eigen.client`` and the CLI against a server (endpoint mode) load; server-only
distributions live in the ``server`` extra (which ``dev`` includes) and never load in an
SDK process; every declared distribution is used by the code (nothing "for later");
the README's first command installs the server extra."""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from eigen.server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SOURCE = ROOT / "src"

# grpc's own __init__ imports these when they happen to be installed (and skips them when
# not): loaded, but not needed by the SDK.
GRPC_PROBES = {"grpcio-tools", "grpcio-health-checking", "grpcio-reflection"}
# Loaded by the interpreter itself (a .pth file), not by Eigen.
INTERPRETER = {"setuptools", "pip", "eigen"}
# Used without an import of their own name in src/.
INDIRECT = {
    "websockets": "uvicorn serves the REST WebSocket (/v1/jobs:batchStream) with it",
    "ply": "cirq's OpenQASM 2 importer (cirq.contrib.qasm_import) parses with it, undeclared by cirq-core",
}
TOOLS = {"schemathesis", "hypothesis", "httpx", "pytest", "pytest-timeout", "ruff", "mypy"}
TOOLS |= {"types-pyyaml", "grpcio-tools"}


def canonical(dist: str) -> str:
    """A distribution's name as pip compares names (``PyYAML``: ``pyyaml``)."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def names(requirements: Iterable[str]) -> set[str]:
    return {canonical(Requirement(r).name) for r in requirements}


CORE = names(PROJECT["dependencies"])
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
SERVER = names(EXTRAS["server"])


def closure(roots: Iterable[str]) -> set[str]:
    """``roots`` and everything they require (installed distributions, no extras)."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            requires = metadata.requires(current) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return seen


def owners() -> dict[str, str]:
    """Installed file (resolved path) -> the distribution that installed it."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        dist_name = canonical(dist.metadata["Name"])
        for file in dist.files or []:
            if file.suffix == ".py" or file.suffix in (".so", ".pyd"):
                found[str(Path(str(dist.locate_file(file))).resolve())] = dist_name
    return found


PROBE = """
import json, sys
{body}
files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
print("MODULES=" + json.dumps([f for f in files if f]))
"""


def loaded_distributions(body: str) -> set[str]:
    """The distributions whose modules a fresh interpreter loads running ``body``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("EIGEN_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, "COLUMNS": "80"},
        cwd=ROOT,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("MODULES=")), None)
    assert line is not None, done.stdout + done.stderr
    table = owners()
    files = {str(Path(f).resolve()) for f in json.loads(line.removeprefix("MODULES="))}
    return {table[f] for f in files if f in table} - INTERPRETER - GRPC_PROBES


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterable[str]:
    with EmbeddedServer(data_dir=tmp_path_factory.mktemp("eigen-data")) as server:
        yield server.address


@pytest.fixture(scope="module")
def cli_loads(endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What ``eigen-cli`` loads against a real server: backends, submit --watch, results."""
    folder = tmp_path_factory.mktemp("job")
    (folder / "bell.qasm").write_text(
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
        "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
    )
    job = folder / "job.yaml"
    job.write_text("apiVersion: eigen.os/v1\nspec:\n  program: {path: bell.qasm}\n  metadata: {shots: 10}\n")
    body = f"""
from eigen.cli.main import app
def cli(*args):
    try:
        app([*args, "--endpoint", {endpoint!r}], standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, exc.code
cli("backends")
cli("submit", "-j", {str(job)!r}, "--watch", "--json")
cli("jobs")
"""
    return loaded_distributions(body)


def test_import_eigen_client_loads_only_core_dependencies() -> None:
    loaded = loaded_distributions(
        "import eigen.client\nfrom eigen.client import Client\nClient('127.0.0.1:1')"
    )
    assert loaded <= closure(CORE), sorted(loaded - closure(CORE))
    assert not loaded & SERVER, sorted(loaded & SERVER)


def test_the_cli_against_a_server_loads_only_core_dependencies(cli_loads: set[str]) -> None:
    assert cli_loads <= closure(CORE), sorted(cli_loads - closure(CORE))
    assert not cli_loads & SERVER, sorted(cli_loads & SERVER)


def test_every_core_dependency_is_loaded_by_the_sdk_or_the_cli(cli_loads: set[str]) -> None:
    sdk = loaded_distributions("import eigen.client")
    assert sdk | cli_loads >= CORE, sorted(CORE - sdk - cli_loads)


def import_names(dist: str) -> set[str]:
    """The top-level modules an installed distribution provides."""
    provided = {
        module
        for module, dists in metadata.packages_distributions().items()
        if dist in {canonical(d) for d in dists} and not module.startswith("_")
    }
    return provided or {dist.replace("-", "_")}


def test_every_declared_distribution_is_used_by_the_code() -> None:
    text = "\n".join(path.read_text() for path in SOURCE.rglob("*.py") if "egg-info" not in str(path))
    declared = CORE | {n for extra, reqs in EXTRAS.items() if extra != "dev" for n in names(reqs)}
    unused = []
    for dist in sorted(declared - set(INDIRECT)):
        if not any(re.search(rf"\b{re.escape(module)}\b", text) for module in import_names(dist)):
            unused.append(dist)
    assert not unused, unused


def test_server_only_distributions_are_out_of_the_core() -> None:
    for dist in ("qiskit", "qiskit-aer", "stim", "sqlalchemy", "alembic", "psycopg", "fastapi", "uvicorn"):
        assert dist not in CORE, dist
        assert dist in SERVER, dist


def test_dev_includes_server_and_the_tools() -> None:
    dev = EXTRAS["dev"]
    own = next(Requirement(r) for r in dev if Requirement(r).name == "eigen")
    assert {"server", "sdk", "qiskit"} <= own.extras
    assert names(dev) >= TOOLS


def test_the_readme_first_command_installs_the_server_extra() -> None:
    readme = (ROOT / "README.md").read_text()
    first = next(line for line in readme.splitlines() if "pip install" in line)
    assert "pip install -e '.[server]'" in first, first
    assert "eigen-cli submit" in first
    assert ".[dev]" in (ROOT / ".ci" / "run").read_text()
