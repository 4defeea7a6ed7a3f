"""In an SDK-only install (no ``server`` extra) the CLI without an endpoint says what to
install instead of crashing: the server's packages are hidden from a real CLI process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HIDE_SERVER = (
    "import sys\n"
    "for name in ('pydantic_settings', 'sqlalchemy', 'qiskit', 'fastapi'):\n"
    "    sys.modules[name] = None  # import of it fails as if it were not installed\n"
    "from eigen.cli.main import app\n"
    "sys.argv = ['eigen-cli', *sys.argv[1:]]\n"
    "app()\n"
)


def test_a_command_that_needs_the_stack_names_the_server_extra(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", HIDE_SERVER, "backends"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"EIGEN_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "pip install 'eigen[server]'" in done.stderr and "--endpoint" in done.stderr
