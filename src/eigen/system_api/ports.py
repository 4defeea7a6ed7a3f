"""What system-api needs from the kernel (in-process Kernel or a gRPC KernelService)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Protocol

from eigen.kernel.store.base import JobFilter
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.quota import Quota
from eigen.models.result import JobResult
from eigen.models.session import Session
from eigen.models.target import Calibration, DeviceInfo


class KernelPort(Protocol):
    """``tenant`` and ``quota`` are the submitter's, as the service layer found them: the
    kernel records the tenant on every new job and refuses a submission over the quota
    (RESOURCE_EXHAUSTED naming the limit) before anything is stored. Reads take no
    tenant: the service layer answers another tenant's job as NOT_FOUND."""

    def submit(
        self,
        request: JobRequest,
        *,
        owner: str = ...,
        idempotency_key: str | None = ...,
        traceparent: str = ...,
        tenant: str = ...,
        quota: Quota = ...,
    ) -> tuple[Job, bool]: ...

    async def submit_async(
        self,
        request: JobRequest,
        *,
        owner: str = ...,
        idempotency_key: str | None = ...,
        traceparent: str = ...,
        tenant: str = ...,
        quota: Quota = ...,
    ) -> tuple[Job, bool]:
        """``submit`` for callers on an event loop."""

    def submit_batch(
        self,
        requests: list[JobRequest],
        *,
        owner: str = ...,
        idempotency_key: str | None = ...,
        traceparent: str = ...,
        tenant: str = ...,
        quota: Quota = ...,
    ) -> tuple[list[Job], bool]:
        """All or nothing, the quota too (the batch's jobs count together). Returns (jobs,
        deduplicated): the key names the whole batch, as ``submit``'s names one job."""

    def get(self, job_id: str) -> Job: ...

    def list_jobs(self, query: JobFilter) -> list[Job]: ...

    def cancel(self, job_id: str) -> Job: ...

    def dead_letters(
        self, tenant: str | None, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetter]:
        """Up to ``limit`` dead letters before the keyset cursor (at, job_id), newest
        first; ``tenant``'s only when given (None: every tenant's)."""

    # sessions (docs/scheduling.md): ``tenant`` None reads any tenant's (an admin)
    def open_session(
        self, tenant: str, owner: str, target: str, max_time_s: float | None, idle_s: float | None
    ) -> Session: ...

    def get_session(self, session_id: str, tenant: str | None) -> Session: ...

    def close_session(self, session_id: str, tenant: str | None) -> Session: ...

    def cancel_session(self, session_id: str, tenant: str | None) -> Session: ...

    def watch(
        self, job_id: str, after_seq: int = ..., active: Callable[[], bool] = ...
    ) -> Iterator[JobEvent]: ...

    def watch_async(self, job_id: str, after_seq: int = ...) -> AsyncIterator[JobEvent]:
        """``watch`` for asyncio callers (the gRPC servicers): the same events."""

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        """Wait until the job has ended (True) or ``timeout_s`` has passed (False)."""

    def results(self, job_id: str) -> JobResult: ...

    def device(self, name: str) -> DeviceInfo: ...

    def list_devices(self) -> list[DeviceInfo]: ...

    def calibration(self, name: str) -> Calibration: ...

    def queue_depth(self) -> int: ...
