"""The server side of the CLI's embedded mode: the :class:`eigen.cli.local_stack.LocalStack`
that the entry point ``stack`` of the group ``eigen.local`` names.

The CLI imports no server code (ARCHITECTURE section 4); it finds this object through its
distribution's entry points and reaches the data folder's lock record, the folder's store
(read-only), the embedded stack and the local compiler through it. Importing this module
loads only what a folder read needs (the lock record and the read-only view: no qiskit, no
SQLAlchemy); the stack, the settings and the compiler are imported when they are asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.target import DeviceInfo
from eigen.server.datalock import EMBEDDED, Holder, read_holder
from eigen.server.folder_view import (
    FolderKernel,
    FolderView,
    folder_api,
    list_query,
    open_view,
    record_devices,
    recorded_devices,
    store_file,
)

if TYPE_CHECKING:
    from eigen.server.embedded import EmbeddedServer


class FolderReads:
    """The reads of one data folder, through the service layer over a :class:`FolderView`
    (so ids, pages and filters are checked and errors worded exactly as a server does)."""

    def __init__(self, view: FolderView) -> None:
        self.view = view
        self._kernel = FolderKernel(view)
        self._api = folder_api(self._kernel)

    @property
    def data_dir(self) -> Path:
        return self.view.data_dir

    @property
    def has_devices(self) -> bool:
        """Read when asked (only a listing of the backends needs it: the record's fingerprint
        scans the installed distributions' entry points)."""
        if self._kernel.devices is None:
            self._kernel.devices = recorded_devices(self.view.data_dir)
        return self._kernel.devices is not None

    def get(self, job_id: str) -> Job:
        return self._api.get(job_id)

    def list_jobs(
        self,
        states: tuple[JobState, ...] = (),
        target: str | None = None,
        labels: dict[str, str] | None = None,
        page_size: int = 0,
        page_token: str = "",
        id_prefix: str = "",
    ) -> tuple[list[Job], str]:
        query = list_query(
            states=states,
            target=target,
            labels=dict(labels or {}),
            page_size=page_size,
            page_token=page_token,
            id_prefix=id_prefix,
        )
        return self._api.list_jobs(query)

    def watch(self, job_id: str, after_seq: int = 0) -> Iterator[JobEvent]:
        return self._api.watch(job_id, after_seq)

    def results(self, job_id: str) -> JobResult:
        return self._api.results(job_id)

    def backends(self) -> list[tuple[DeviceInfo, int]]:
        return self._api.backends()

    def record_devices(self, devices: list[DeviceInfo]) -> None:
        record_devices(self.view.data_dir, devices)

    def close(self) -> None:
        self.view.close()


class LocalStack:
    """What the CLI asks of the server side when it runs without an endpoint."""

    embedded_role = EMBEDDED

    def read_holder(self, data_dir: Path) -> Holder | None:
        return read_holder(data_dir)

    def folder_settings(self) -> tuple[Path, str]:
        from eigen.config.settings import Settings

        settings = Settings()
        return settings.data_dir, settings.store_url if settings.database_url else ""

    def open_folder(self, data_dir: Path, database_url: str) -> FolderReads | None:
        path = store_file(data_dir, database_url)
        view = open_view(path, data_dir) if path is not None else None
        return FolderReads(view) if view is not None else None

    def embedded(self, data_dir: Path | None, http_port: int | None = None) -> EmbeddedServer:
        from eigen.server.embedded import EmbeddedServer

        return EmbeddedServer(data_dir=data_dir, http_port=http_port)

    def compile_to_file(self, job: Path, out_file: Path) -> dict[str, Any]:
        from eigen.server.local_compile import compile_to_file

        return compile_to_file(job, out_file)


STACK = LocalStack()
