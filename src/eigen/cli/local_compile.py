"""``eigen-cli compile``: compile a job.yaml for its target in this process, through the
embedded mode's port (:mod:`eigen.cli.local_stack`: the compiler is server code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def compile_to_file(job: Path, out_file: Path) -> dict[str, Any]:
    """Compile ``job`` locally and write the compiled circuit; the compile report."""
    from eigen.cli.local_stack import local_stack
    from eigen.cli.session import server_extra

    with server_extra():
        stack = local_stack()
        return stack.compile_to_file(job, out_file)
