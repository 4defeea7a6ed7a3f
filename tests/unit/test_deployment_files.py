"""Running the documented commands from a checkout leaves ``git status`` clean: every file
docs/deployment.md's commands write (``cat > eigen.yaml``, the default data folder) is
ignored by git; and the README's four-process example starts each role only once the one
before it is ready."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = (ROOT / "docs" / "deployment.md").read_text()
README = (ROOT / "README.md").read_text()
SH_BLOCK = re.compile(r"^```sh[^\n]*\n(.*?)^```", re.M | re.S)
WRITES = re.compile(r"(?:^|\s)(?:cat\s+)?>{1,2}\s*\"?([A-Za-z0-9_.\-/$]+)")
DEFAULT_DIR = re.compile(r"\$\{EIGEN_DATA_DIR:-\$PWD/([^}]+)\}")


def written_paths() -> set[str]:
    """Repository-relative paths the deployment page's commands write when run from the root."""
    found: set[str] = set()
    for block in SH_BLOCK.findall(DEPLOYMENT):
        for target in WRITES.findall(block):
            if target.startswith(("/", "$")) or target.startswith("&"):
                continue  # /dev/null, /etc/...: outside the checkout
            found.add(target)
        found.update(f"{name}/" for name in DEFAULT_DIR.findall(block))
    return found


def test_the_page_writes_the_files_we_know_of() -> None:
    assert {"eigen.yaml", "eigen-pg.yaml", "eigen-data/"} <= written_paths()


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
@pytest.mark.parametrize("path", sorted(written_paths()))
def test_what_the_page_writes_is_ignored_by_git(path: str) -> None:
    probe = f"{path}eigen.db" if path.endswith("/") else path
    done = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT, check=False)
    assert done.returncode == 0, f"{probe} would show up in git status"


def four_process_block() -> str:
    return next(block for block in SH_BLOCK.findall(README) if "--role driver-manager" in block)


def test_the_readme_starts_each_role_once_the_previous_is_ready() -> None:
    block = four_process_block()
    serves = [line for line in block.splitlines() if "eigen-server serve" in line]
    assert [re.search(r"--role (\S+)", line)[1] for line in serves] == [  # type: ignore[index]
        "driver-manager",
        "compiler",
        "kernel",
        "api",
    ]
    assert "/health/ready" in block
    for line in serves:
        port = re.search(r"--http-port (\d+)", line)
        assert port is not None, line
        assert line.rstrip().endswith(f"& ready {port[1]}"), line
