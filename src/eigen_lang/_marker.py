"""The one error the ``eigen_lang`` stubs raise when a program is run as plain Python."""

from __future__ import annotations

from typing import NoReturn


class NotRunnableError(RuntimeError):
    """Raised when an Eigen-Lang marker is called outside Eigen."""


def not_runnable(name: str) -> NoReturn:
    """Explain that Eigen-Lang programs are read by Eigen, never run."""
    raise NotRunnableError(
        f"{name} is a declarative Eigen-Lang marker: programs are read by "
        "Eigen (parsed as an AST, never executed), not run as Python. Submit the program "
        "to Eigen as a job (job.yaml) instead."
    )
