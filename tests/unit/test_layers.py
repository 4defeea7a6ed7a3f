"""Imports follow ARCHITECTURE section 4 (they only go down the layers, siblings stay apart,
protobuf stops at the edges, the SDK and the CLI import no server code), as the import-linter
contracts of pyproject.toml ``[tool.importlinter]`` state it; and ``import eigen.client`` loads
neither qiskit, a database driver nor the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = (  # the `lint-imports` command, run by this interpreter (wherever its scripts are)
    "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
)


def lint_imports(*config_files: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` of this interpreter on the source tree (no cache written)."""
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache", "--no-logo", *map(str, config_files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    done = lint_imports(ROOT / "pyproject.toml")
    assert done.returncode == 0, f"broken import contracts:\n{done.stdout}{done.stderr}"
    assert "0 broken" in done.stdout


def test_a_broken_contract_fails_with_its_chain(tmp_path: Path) -> None:
    """The check itself can fail: a contract the code does not keep (the models raise the
    errors of eigen.errors) is reported, naming the import."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        "[tool.importlinter]\n"
        'root_packages = ["eigen"]\n'
        "[[tool.importlinter.contracts]]\n"
        'name = "models without errors"\n'
        'type = "forbidden"\n'
        'source_modules = ["eigen.models"]\n'
        'forbidden_modules = ["eigen.errors"]\n'
    )
    done = lint_imports(config)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "models without errors BROKEN" in done.stdout
    assert "eigen.models.jobspec -> eigen.errors" in done.stdout


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
