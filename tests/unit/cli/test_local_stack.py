"""The CLI's embedded mode finds the server side through its entry point, and what it finds
has every member of the port the CLI calls."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eigen.cli import local_stack as local_stack_module
from eigen.cli.local_stack import FolderReads, LocalStack, local_stack
from eigen.errors import FailedPrecondition


def test_the_registered_stack_has_the_ports_members(tmp_path: Path) -> None:
    stack = local_stack()
    assert isinstance(stack, LocalStack)
    folder = stack.open_folder(tmp_path, "")  # no store yet: an empty folder's reads
    assert folder is not None and isinstance(folder, FolderReads)
    try:
        assert folder.list_jobs() == ([], "")
        assert folder.data_dir == tmp_path
        assert stack.read_holder(tmp_path) is None
    finally:
        folder.close()


def test_a_store_only_a_kernel_may_open_is_no_folder(tmp_path: Path) -> None:
    assert local_stack().open_folder(tmp_path, "postgresql+psycopg://127.0.0.1/eigen") is None


def test_an_embedded_stack_is_built_on_the_given_folder_without_starting(tmp_path: Path) -> None:
    built = local_stack().embedded(tmp_path)
    assert built.settings.data_dir == tmp_path
    assert not (tmp_path / "eigen.lock").exists()  # nothing ran on the folder


def test_an_install_without_the_entry_point_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> list[object]:
        return []  # what importlib.metadata finds for a source tree that was never installed

    monkeypatch.setattr(local_stack_module, "distributions", not_installed)
    local_stack.cache_clear()
    try:
        with pytest.raises(FailedPrecondition, match=r"pip install 'eigen\[server\]'.*EIGEN_ENDPOINT"):
            local_stack()
    finally:
        local_stack.cache_clear()


def test_older_metadata_ahead_on_the_path_does_not_hide_the_stack(tmp_path: Path) -> None:
    """A source tree's stale ``eigen.egg-info`` (no ``eigen.local`` entry point) first on
    ``sys.path``: the installed metadata still provides the stack."""
    stale = tmp_path / "eigen.egg-info"
    stale.mkdir()
    (stale / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: eigen\nVersion: 0.0.1\n")
    (stale / "entry_points.txt").write_text("[console_scripts]\neigen-cli = eigen.cli.main:run\n")
    code = (
        "from eigen.cli.local_stack import local_stack\n"
        "from importlib.metadata import distribution\n"
        "print(distribution('eigen').version, type(local_stack()).__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0.0.1", "LocalStack"]  # the stale copy is first, and passed over
