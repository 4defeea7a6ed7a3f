"""A read-only view of a data folder: its SQLite job store and the device list recorded there.

What ``eigen-cli status``, ``jobs``, ``results``, ``watch`` of an ended job and ``backends``
read when no endpoint is given and no live process holds the folder. Starting the embedded
stack for a read costs seconds (qiskit, the drivers, the kernel's recovery); this view costs
milliseconds: the standard library's ``sqlite3`` on the store file opened read-only, with none
of SQLAlchemy, Alembic or the drivers imported, and it never writes (no migration, no
recovery: a job left RUNNING or QUEUED stays as it is until a kernel starts on the folder).

It reads the tables of :mod:`eigen.kernel.store.schema` at the schema head and nothing else;
a store at another revision (made by an older or newer Eigen) is not read here
(:func:`open_view` returns None and the caller starts the stack, which migrates or refuses).
:class:`FolderKernel` answers the reads of :class:`eigen.system_api.ports.KernelPort` from
it, so :class:`eigen.system_api.service.JobApi` validates ids, pages and filters and words
its errors exactly as a server does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from eigen import __version__
from eigen.errors import NotFound, Unimplemented
from eigen.kernel.store.base import JobFilter
from eigen.kernel.store.retention import check_results_ready, load_result, stored_job
from eigen.kernel.store.rows import EVENT_JSON_COLUMNS, JOB_JSON_COLUMNS, event_from_row, job_from_row
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.quota import NO_QUOTA, Quota
from eigen.models.result import JobResult, result_from_dict
from eigen.models.session import Session
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus
from eigen.system_api.service import JobApi, ListQuery

STORE_FILE = "eigen.db"  # Settings.sqlite_path: the store of a folder without database_url
DEVICES_FILE = "eigen.devices.json"  # the device list recorded by the last listing of a stack
DRIVER_GROUP = "eigen.drivers"  # the drivers' entry points (eigen.drivers.registry.GROUP)
_MIGRATIONS = Path(__file__).resolve().parent.parent / "kernel" / "store" / "migrations" / "versions"
_REVISION_FILE = re.compile(r"^v(\d+)_\w+\.py$")
_ID_CEILING = "\x7f"  # above every character of a job id: [p, p + ceiling) are the ids starting with p
_WAITING = tuple(s.value for s in JobState if not s.terminal)


def head_revision() -> str:
    """The schema head, from the migration files' names (``v<rev>_<slug>.py``, revisions
    numbered in order) without importing Alembic; a test checks it against Alembic's."""
    revisions = [m.group(1) for f in _MIGRATIONS.iterdir() if (m := _REVISION_FILE.match(f.name))]
    return max(revisions, key=int)


class FolderView:
    """Reads of one SQLite store file, on a read-only connection (``mode=ro``); with no
    connection, of a folder that has no store yet (no jobs)."""

    def __init__(self, connection: sqlite3.Connection | None, data_dir: Path) -> None:
        self._db = connection
        if connection is not None:
            connection.row_factory = sqlite3.Row
        self.data_dir = data_dir

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[sqlite3.Row]:
        return self._db.execute(sql, params).fetchall() if self._db is not None else []

    def get(self, job_id: str) -> Job | None:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list_jobs(self, query: JobFilter) -> list[Job]:
        """The jobs of ``query``, newest first: the statement of SqlJobStore.list_jobs."""
        where: list[str] = []
        params: list[Any] = []
        if query.tenant is not None:
            where.append("tenant = ?")
            params.append(query.tenant)
        if query.states:
            where.append(f"state IN ({', '.join('?' for _ in query.states)})")
            params.extend(s.value for s in query.states)
        if query.target:
            where.append("target = ?")
            params.append(query.target)
        for key, value in query.labels.items():
            where.append("CAST(json_extract(labels, ?) AS VARCHAR) = ?")
            params.extend([json_path(key), value])
        if query.created_after is not None:
            where.append("created_at >= ?")
            params.append(query.created_after)
        if query.created_before is not None:
            where.append("created_at < ?")
            params.append(query.created_before)
        if query.id_prefix:  # as SqlJobStore on SQLite: a range on the key (BINARY collation)
            where.append("id >= ? AND id < ?")
            params.extend([query.id_prefix, query.id_prefix + _ID_CEILING])
        if query.before is not None:
            stamp, job_id = query.before
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params.extend([stamp, stamp, job_id])
        sql = "SELECT * FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        return [_job(row) for row in self._rows(sql, [*params, query.limit])]

    def events(self, job_id: str, after_seq: int = 0) -> list[JobEvent]:
        rows = self._rows(
            "SELECT * FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq", (job_id, after_seq)
        )
        return [_event(row) for row in rows]

    def result(self, job_id: str) -> JobResult | None:
        rows = self._rows("SELECT result FROM job_results WHERE job_id = ?", (job_id,))
        return result_from_dict(json.loads(rows[0][0])) if rows else None

    def result_expired_at(self, job_id: str) -> float | None:
        rows = self._rows("SELECT result_expired_at FROM jobs WHERE id = ?", (job_id,))
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def waiting(self) -> int:
        """Jobs that have not ended: what a kernel starting on the folder would queue."""
        marks = ", ".join("?" for _ in _WAITING)
        rows = self._rows(f"SELECT count(*) FROM jobs WHERE state IN ({marks})", _WAITING)
        return int(rows[0][0]) if rows else 0


def json_path(key: str) -> str:
    """The SQLite JSON path of one object key, as SQLAlchemy renders ``labels[key]``."""
    return f'$."{key}"'


def store_file(data_dir: Path, database_url: str) -> Path | None:
    """The SQLite file of a folder's store (``Settings.sqlite_path`` when ``database_url`` is
    empty); None for a store this view cannot read (PostgreSQL, in-memory SQLite)."""
    if not database_url:
        return data_dir / STORE_FILE
    prefix = "sqlite:///"
    if database_url.startswith(prefix) and database_url[len(prefix) :] not in ("", ":memory:"):
        return Path(database_url[len(prefix) :].partition("?")[0])
    return None


def open_view(path: Path, data_dir: Path) -> FolderView | None:
    """The view of the store file ``path`` of ``data_dir`` (an empty view when there is no
    store yet); None when the store cannot be read here: at another schema revision than
    this Eigen's, or not a store at all (then only a kernel may open it, and say what is
    wrong)."""
    if not path.exists():
        return FolderView(None, data_dir)
    try:
        connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error:
        return None
    try:
        connection.execute("PRAGMA busy_timeout=10000")  # a kernel may be checkpointing the WAL
        found = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        connection.close()
        return None
    if found is None or found[0] != head_revision():
        connection.close()
        return None
    return FolderView(connection, data_dir)


# -- the recorded device list ----------------------------------------------------------------
def drivers_fingerprint() -> str:
    """What the device list depends on: this Eigen and the installed drivers' entry points."""
    points = sorted(f"{ep.name}={ep.value}" for ep in entry_points(group=DRIVER_GROUP))
    return json.dumps([__version__, points])


def record_devices(data_dir: Path, devices: list[DeviceInfo]) -> None:
    """Record a stack's device list in the folder for :func:`recorded_devices` (atomically:
    a reader finds the old record or the new one). A folder that cannot be written to keeps
    no record; the next listing starts the stack again."""
    record = {"fingerprint": drivers_fingerprint(), "devices": [device_dict(d) for d in devices]}
    target = data_dir / DEVICES_FILE
    partial = target.with_name(f".{DEVICES_FILE}.tmp")
    with contextlib.suppress(OSError):
        partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        partial.replace(target)


def recorded_devices(data_dir: Path) -> list[DeviceInfo] | None:
    """The device list recorded in the folder; None when there is none, or one recorded with
    other drivers installed or by another version of Eigen."""
    try:
        record = json.loads((data_dir / DEVICES_FILE).read_text(encoding="utf-8"))
        if record["fingerprint"] != drivers_fingerprint():
            return None
        return [device_from_dict(item) for item in record["devices"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def device_dict(device: DeviceInfo) -> dict[str, Any]:
    data = dataclasses.asdict(device)
    data["status"] = device.status.value
    return data


def device_from_dict(data: dict[str, Any]) -> DeviceInfo:
    coupling = data.get("coupling_map")
    return DeviceInfo(
        **{
            **data,
            "basis_gates": tuple(data["basis_gates"]),
            "coupling_map": tuple(tuple(pair) for pair in coupling) if coupling is not None else None,
            "status": DeviceStatus(data["status"]),
            "aliases": tuple(data.get("aliases", ())),
        }
    )


# -- the kernel port over the view -----------------------------------------------------------
class FolderKernel:
    """The reads of :class:`eigen.system_api.ports.KernelPort` from a :class:`FolderView`,
    with the kernel's own answers (:class:`eigen.kernel.service.Kernel`): NOT_FOUND for a job
    the folder does not have, FAILED_PRECONDITION for results of a job that is not DONE.
    Everything else needs a kernel: Unimplemented.

    ``devices`` is the device list to answer with; without one, the list recorded in the
    folder (:func:`recorded_devices`), read when first asked for: only a listing of the
    backends needs it, and checking the record's fingerprint scans the installed
    distributions' entry points, which ``status``, ``jobs`` or ``results`` need not pay."""

    def __init__(self, view: FolderView, devices: list[DeviceInfo] | None = None) -> None:
        self.view = view
        self._given = devices

    @functools.cached_property
    def devices(self) -> list[DeviceInfo] | None:
        """The device list; None when none is given and the folder records none for the
        installed drivers."""
        return self._given if self._given is not None else recorded_devices(self.view.data_dir)

    def get(self, job_id: str) -> Job:
        return stored_job(self.view.get(job_id), job_id)

    def list_jobs(self, query: JobFilter) -> list[Job]:
        return self.view.list_jobs(query)

    def results(self, job_id: str) -> JobResult:
        check_results_ready(self.get(job_id))
        return load_result(self.view, job_id)  # type: ignore[arg-type]  # the reads load_result uses

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        """The events of an ended job (a job that has not ended needs a kernel to go on)."""
        job = self.get(job_id)
        if not job.terminal:
            raise Unimplemented(f"job {job_id} is {job.state.value}: following it needs a kernel")
        return iter(self.view.events(job_id, after_seq))

    def list_devices(self) -> list[DeviceInfo]:
        if self.devices is None:
            raise Unimplemented("no device list recorded in this data folder")
        return self.devices

    def device(self, name: str) -> DeviceInfo:
        for device in self.list_devices():
            if name == device.name or name in device.aliases:
                return device
        raise NotFound(f"device {name!r} not found")

    def queue_depth(self) -> int:
        return self.view.waiting()

    # -- what only a kernel does -------------------------------------------------------------
    def submit(
        self,
        request: JobRequest,
        *,
        owner: str = "anonymous",
        idempotency_key: str | None = None,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> tuple[Job, bool]:
        raise _needs_kernel("submit")

    async def submit_async(
        self,
        request: JobRequest,
        *,
        owner: str = "anonymous",
        idempotency_key: str | None = None,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> tuple[Job, bool]:
        raise _needs_kernel("submit")

    def submit_batch(
        self,
        requests: list[JobRequest],
        *,
        owner: str = "anonymous",
        idempotency_key: str | None = None,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> tuple[list[Job], bool]:
        raise _needs_kernel("submit")

    def cancel(self, job_id: str) -> Job:
        raise _needs_kernel("cancel")

    def open_session(
        self, tenant: str, owner: str, target: str, max_time_s: float | None, idle_s: float | None
    ) -> Session:
        raise _needs_kernel("sessions")

    def get_session(self, session_id: str, tenant: str | None) -> Session:
        raise _needs_kernel("sessions")

    def close_session(self, session_id: str, tenant: str | None) -> Session:
        raise _needs_kernel("sessions")

    def cancel_session(self, session_id: str, tenant: str | None) -> Session:
        raise _needs_kernel("sessions")

    def dead_letters(
        self, tenant: str | None, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetter]:
        raise _needs_kernel("dead letters")

    def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        raise _needs_kernel("watch")

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        raise _needs_kernel("wait")

    def calibration(self, name: str) -> Calibration:
        raise _needs_kernel("calibration")


def _needs_kernel(what: str) -> Unimplemented:
    return Unimplemented(f"{what} needs a kernel; a data folder view only reads")


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _job(row: sqlite3.Row) -> Job:
    """A jobs row as the SQL store reads it (:mod:`eigen.kernel.store.rows`)."""
    decoded = _decoded(row, JOB_JSON_COLUMNS)
    return job_from_row(decoded, JobRequest.model_validate(decoded["request"]))


def _event(row: sqlite3.Row) -> JobEvent:
    return event_from_row(_decoded(row, EVENT_JSON_COLUMNS))


def _decoded(row: sqlite3.Row, json_columns: tuple[str, ...]) -> dict[str, Any]:
    """The row as a mapping with its JSON columns decoded (SQLAlchemy's JSON type does
    this for the SQL store)."""
    values = dict(zip(row.keys(), tuple(row), strict=True))
    for column in json_columns:
        values[column] = _loads(values[column])
    return values


def folder_api(kernel: FolderKernel) -> JobApi:
    """The service layer over the folder: the same checks and messages as a server's (the
    CLI reaches the service layer only through this composition module)."""
    return JobApi(kernel)


def list_query(**fields: Any) -> ListQuery:
    """A ListJobs query of the service layer, for the CLI's folder client."""
    return ListQuery(**fields)


FolderApi = JobApi
"""What :func:`folder_api` gives (a name the CLI can use in its type hints)."""
