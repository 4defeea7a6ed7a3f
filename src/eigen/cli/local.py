"""The client of an embedded CLI session: reads from the data folder, the rest from the stack.

With no endpoint and no live holder of the data folder, ``status``, ``jobs``, ``results``,
``watch`` of an ended job and ``backends`` are answered from the folder itself
(:meth:`eigen.cli.local_stack.LocalStack.open_folder`: the store read-only, the device list
recorded there) in milliseconds, without qiskit and without starting the stack. Whatever needs a kernel
(``submit``, ``cancel``, following a job that has not ended, waiting for results, a device
list not recorded yet) starts the embedded stack once, through ``start``, and from then on
every call of the session goes to it.

The folder's answers are the server's: its service layer validates ids and page tokens and
words NOT_FOUND and FAILED_PRECONDITION as a server does.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Self, Unpack

from eigen.client.job_ids import PREFIX_PAGE_SIZE, full_job_id, matching_job_id

if TYPE_CHECKING:
    from eigen.cli.local_stack import FolderReads
    from eigen.client.client import Client
    from eigen.client.futures import JobFuture
    from eigen.client.inputs import SubmitOptions, Submittable
    from eigen.models.chunks import Chunk
    from eigen.models.job import Job, JobEvent
    from eigen.models.result import JobResult
    from eigen.models.state import JobState
    from eigen.models.target import DeviceInfo


class FolderClient:
    """The calls of a :class:`~eigen.client.client.Client` the CLI makes, reading ``folder``
    and starting the stack (``start``, which returns a client of it) for anything else.

    It opens no channel of its own (until ``start`` runs there is no server to open one to),
    and imports no gRPC or protobuf: those come with the stack's client, when one is needed.
    """

    def __init__(self, folder: FolderReads, start: Callable[[], Client]) -> None:
        self.endpoint = f"the data folder {folder.data_dir}"
        self.folder = folder
        self._start = start
        self._stack: Client | None = None

    @property
    def peer(self) -> str:
        return f"Eigen on {self.endpoint}"

    @property
    def started(self) -> bool:
        """Whether the session needed the stack (and started it)."""
        return self._stack is not None

    def stack(self) -> Client:
        """The client of the embedded stack, started on first use."""
        if self._stack is None:
            self._stack = self._start()
        return self._stack

    # -- reads: from the folder while the stack is not running -------------------------------
    def get(self, job_id: str) -> Job:
        if self._stack is not None:
            return self._stack.get(job_id)
        return self.folder.get(job_id)

    def list_jobs(
        self,
        states: list[JobState] | None = None,
        target: str = "",
        labels: dict[str, str] | None = None,
        page_size: int = 50,
        page_token: str = "",
    ) -> tuple[list[Job], str]:
        if self._stack is not None:
            return self._stack.list_jobs(states, target, labels, page_size, page_token)
        return self.folder.list_jobs(
            states=tuple(states or ()),
            target=target or None,
            labels=dict(labels or {}),
            page_size=page_size,
            page_token=page_token,
        )

    def watch(self, job_id: str, after_seq: int = 0) -> Generator[JobEvent, None, None]:
        """The events of an ended job from the folder; a job that has not ended is followed
        on the stack (whose kernel resumes it)."""
        if self._stack is None and self.folder.get(job_id).terminal:
            yield from self.folder.watch(job_id, after_seq)
            return
        yield from self.stack().watch(job_id, after_seq)

    def wait(self, job_id: str) -> Job:
        for _ in self.watch(job_id):
            pass
        return self.get(job_id)

    def results(self, job_id: str, wait: float = 0.0) -> JobResult:
        """From the folder, unless ``wait`` asks to wait for a job that has not ended (only
        a kernel can end it)."""
        if self._stack is None and (not wait or self.folder.get(job_id).terminal):
            return self.folder.results(job_id)
        return self.stack().results(job_id, wait=wait)

    def stream_results(self, job_id: str, chunk_size: int = 0) -> Iterator[Chunk]:
        """:meth:`Client.stream_results <eigen.client.client.Client.stream_results>`: the
        folder's result in chunks, or the stack's while it runs."""
        if self._stack is not None:
            yield from self._stack.stream_results(job_id, chunk_size)
            return
        from eigen.models.chunks import DEFAULT_CHUNK_OUTCOMES, split

        yield from split(self.folder.results(job_id), chunk_size or DEFAULT_CHUNK_OUTCOMES)

    def backends(self) -> list[tuple[DeviceInfo, int]]:
        """The device list recorded in the folder, with the jobs waiting in its store as the
        queue depth; without a record (or one of other drivers), the stack's, recorded."""
        if self._stack is None and self.folder.has_devices:
            return self.folder.backends()
        listed = self.stack().backends()
        self.folder.record_devices([device for device, _ in listed])
        return listed

    # -- what needs a kernel: the stack (only what the CLI calls) ---------------------------
    def submit(
        self, job: Submittable, idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> JobFuture:
        return self.stack().submit(job, idempotency_key, **options)

    def cancel(self, job_id: str) -> Job:
        return self.stack().cancel(job_id)

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self.folder.close()

    def resolve_job_id(self, prefix: str) -> str:
        """:meth:`Client.resolve_job_id <eigen.client.client.Client.resolve_job_id>`, its one
        ListJobs ``id_prefix`` lookup answered by the folder."""
        if self._stack is not None:
            return self._stack.resolve_job_id(prefix)
        full = full_job_id(prefix)
        if full is not None:
            return full
        found, _ = self.folder.list_jobs(id_prefix=prefix, page_size=PREFIX_PAGE_SIZE)
        return matching_job_id(prefix, [job.id for job in found])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
