"""The port of the CLI's embedded mode: what it needs of the server side, found at run time.

Without an endpoint the CLI works on a data folder: it reads who holds the folder, reads the
folder's store, starts the embedded stack, and compiles ``eigen-cli compile`` in process.
All of that is server code (the ``server`` extra: the stack, SQLAlchemy, qiskit), which the
CLI, like the SDK, never imports (ARCHITECTURE section 4, the import contracts in
``pyproject.toml``). It asks for it here instead, through the :class:`LocalStack` that the
entry point ``stack`` of the group :data:`GROUP` names; Eigen's own distribution registers
:mod:`eigen.server.local_stack`. An install without the server extra fails to load it with
:class:`ModuleNotFoundError`, which :func:`eigen.cli.session.server_extra` words for the user.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib.metadata import distributions
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from eigen.errors import FailedPrecondition

if TYPE_CHECKING:
    from eigen.models.job import Job, JobEvent
    from eigen.models.result import JobResult
    from eigen.models.state import JobState
    from eigen.models.target import DeviceInfo

GROUP = "eigen.local"
NAME = "stack"


class Holder(Protocol):
    """Who owns a data folder, as its owner record says; ``alive``: its lock is held now."""

    @property
    def pid(self) -> int: ...
    @property
    def address(self) -> str | None: ...
    @property
    def role(self) -> str: ...
    @property
    def alive(self) -> bool: ...
    @property
    def hostname(self) -> str: ...


@runtime_checkable
class FolderReads(Protocol):
    """The reads of one data folder's store and recorded device list, answered as a server
    answers them (the same validation and the same errors)."""

    @property
    def data_dir(self) -> Path: ...
    @property
    def has_devices(self) -> bool:
        """Whether a device list is recorded for the installed drivers."""
        ...

    def get(self, job_id: str) -> Job: ...
    def list_jobs(
        self,
        states: tuple[JobState, ...] = (),
        target: str | None = None,
        labels: dict[str, str] | None = None,
        page_size: int = 0,
        page_token: str = "",
        id_prefix: str = "",
    ) -> tuple[list[Job], str]: ...
    def watch(self, job_id: str, after_seq: int = 0) -> Iterator[JobEvent]: ...
    def results(self, job_id: str) -> JobResult: ...
    def backends(self) -> list[tuple[DeviceInfo, int]]: ...
    def record_devices(self, devices: list[DeviceInfo]) -> None:
        """Record a stack's device list in the folder, for the next reads."""
        ...

    def close(self) -> None: ...


class StackSettings(Protocol):
    """What the CLI reads of an embedded stack's settings (to find its store file)."""

    data_dir: Path
    database_url: str


class RunningStack(Protocol):
    """An embedded stack serving gRPC on loopback."""

    @property
    def address(self) -> str: ...
    @property
    def settings(self) -> StackSettings: ...
    @property
    def http_address(self) -> str:
        """The base URL of its HTTP server (REST and the dashboard), when started with one."""
        ...

    def stop(self) -> None: ...


class EmbeddedStack(Protocol):
    """An embedded stack built (with its settings) but not started."""

    @property
    def settings(self) -> StackSettings: ...
    def start(self) -> RunningStack:
        """Start it; a clear EigenError when another live kernel owns its data folder."""
        ...


@runtime_checkable
class LocalStack(Protocol):
    """The server side of the embedded mode."""

    @property
    def embedded_role(self) -> str:
        """The role an embedded stack records as the holder of its data folder."""
        ...

    def read_holder(self, data_dir: Path) -> Holder | None: ...
    def folder_settings(self) -> tuple[Path, str]:
        """The data folder and the database URL of the settings (file, environment)."""
        ...

    def open_folder(self, data_dir: Path, database_url: str) -> FolderReads | None:
        """The reads of the folder's store; None for a store only a kernel may open
        (PostgreSQL, another schema revision)."""
        ...

    def embedded(self, data_dir: Path | None, http_port: int | None = None) -> EmbeddedStack:
        """The embedded stack on ``data_dir``; with ``http_port`` (0: a free one) it also
        serves HTTP on loopback (``eigen-cli ui``)."""
        ...

    def compile_to_file(self, job: Path, out_file: Path) -> dict[str, Any]:
        """Compile a job.yaml for its target in this process; the compile report."""
        ...


@functools.cache
def local_stack() -> LocalStack:
    """The registered :class:`LocalStack`, loaded once. It is looked up in Eigen's own
    distribution (its metadata files only, not every installed distribution's), in each copy
    of that metadata on the path: a source tree on ``PYTHONPATH`` may hold an older
    ``eigen.egg-info`` ahead of the installed one. Importing it loads the server side's light
    modules only; the stack is imported when it is built."""
    for found in distributions(name="eigen"):
        points = list(found.entry_points.select(group=GROUP, name=NAME))
        if points:
            stack: LocalStack = points[0].load()
            return stack
    raise FailedPrecondition(
        f"no endpoint given, and this install registers no embedded stack (entry point "
        f"{NAME!r} of {GROUP!r}): reinstall eigen with the server extra "
        "(pip install 'eigen[server]'), or use --endpoint HOST:PORT / EIGEN_ENDPOINT"
    )
