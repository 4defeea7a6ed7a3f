"""The CLI's embedded mode finds the server side through its entry point, and what it finds
has every member of the port the CLI calls."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
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


def test_a_source_tree_without_eigens_metadata_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> None:
        raise PackageNotFoundError(name)

    monkeypatch.setattr(local_stack_module, "distribution", not_installed)
    local_stack.cache_clear()
    try:
        with pytest.raises(FailedPrecondition, match=r"pip install 'eigen\[server\]'.*EIGEN_ENDPOINT"):
            local_stack()
    finally:
        local_stack.cache_clear()
