"""The one service layer of system-api, shared by the gRPC servicers and the REST routes.

Validation at the edge happens here (ids, idempotency keys, page tokens and sizes); the
kernel validates what needs the device and the compiler (backend, shots, qubits, program).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

from eigen.errors import InvalidArgument, quote
from eigen.kernel.store.base import JobFilter
from eigen.models import limits
from eigen.models.chunks import DEFAULT_CHUNK_OUTCOMES, Chunk, split
from eigen.models.job import JOB_ID_PATTERN, Job, JobEvent, JobRequest
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.observability import context
from eigen.system_api.ports import KernelPort

MAX_PAGE_SIZE = 500
MAX_BATCH = limits.BATCH_MAX
MAX_WAIT_S = 3600.0  # the longest GetJobResults waits for a job to end
MAX_CHUNK_SIZE = 1_000_000  # outcomes per result chunk
DEFAULT_PAGE_SIZE = 50
KEY_PATTERN = rf"^[\x21-\x7e]{{1,{limits.IDEMPOTENCY_KEY_MAX}}}$"
_JOB_ID = re.compile(JOB_ID_PATTERN)
_KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class ListQuery:
    states: tuple[JobState, ...] = ()
    target: str | None = None
    labels: dict[str, str] | None = None
    created_after: float | None = None
    created_before: float | None = None
    page_size: int = 0
    page_token: str = ""
    id_prefix: str = ""  # "" for any id


class JobApi:
    def __init__(self, kernel: KernelPort) -> None:
        self.kernel = kernel

    def submit(self, request: JobRequest, idempotency_key: str = "") -> tuple[Job, bool]:
        if idempotency_key and not _KEY.fullmatch(idempotency_key):
            raise InvalidArgument.for_field(
                "idempotency_key",
                f"must be 1-{limits.IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces",
            )
        call = context.current()
        return self.kernel.submit(
            request,
            owner=context.checked_caller(call),
            idempotency_key=idempotency_key or None,
            traceparent=call.traceparent,
        )

    async def submit_async(self, request: JobRequest) -> Job:
        """:meth:`submit` without an idempotency key, for callers on an event loop."""
        call = context.current()
        return await self.kernel.submit_async(
            request, owner=context.checked_caller(call), traceparent=call.traceparent
        )

    def submit_batch(self, requests: list[JobRequest]) -> list[Job]:
        if len(requests) > MAX_BATCH:
            raise InvalidArgument.for_field("jobs", f"at most {MAX_BATCH} jobs per batch")
        call = context.current()
        return self.kernel.submit_batch(
            requests, owner=context.checked_caller(call), traceparent=call.traceparent
        )

    def result_chunks(self, job_id: str, chunk_size: int = 0) -> list[Chunk]:
        if not 0 <= chunk_size <= MAX_CHUNK_SIZE:
            raise InvalidArgument.for_field("chunk_size", f"must be between 0 and {MAX_CHUNK_SIZE}")
        return split(self.results(job_id), chunk_size or DEFAULT_CHUNK_OUTCOMES)

    def get(self, job_id: str) -> Job:
        return self.kernel.get(check_job_id(job_id))

    def cancel(self, job_id: str) -> Job:
        return self.kernel.cancel(check_job_id(job_id))

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        if after_seq < 0:
            raise InvalidArgument.for_field("after_seq", "must not be negative")
        return self.kernel.watch(check_job_id(job_id), after_seq, active)

    def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        if after_seq < 0:
            raise InvalidArgument.for_field("after_seq", "must not be negative")
        return self.kernel.watch_async(check_job_id(job_id), after_seq)

    def results(self, job_id: str) -> JobResult:
        return self.kernel.results(check_job_id(job_id))

    async def wait(self, job_id: str, wait_s: float) -> None:
        """Wait up to ``wait_s`` for the job to end (the long poll of GetJobResults)."""
        if not 0 <= wait_s <= MAX_WAIT_S:  # NaN fails too
            raise InvalidArgument.for_field("wait_seconds", f"must be between 0 and {MAX_WAIT_S:g} seconds")
        if wait_s > 0:
            await self.kernel.wait_async(check_job_id(job_id), wait_s)

    def list_jobs(self, query: ListQuery) -> tuple[list[Job], str]:
        size = query.page_size or DEFAULT_PAGE_SIZE
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument.for_field("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
        check_filters(query)
        jobs = self.kernel.list_jobs(
            JobFilter(
                states=query.states,
                target=query.target or None,
                labels=dict(query.labels or {}),
                created_after=query.created_after,
                created_before=query.created_before,
                limit=size + 1,
                before=decode_page_token(query.page_token) if query.page_token else None,
                id_prefix=query.id_prefix or None,
            )
        )
        if len(jobs) <= size:
            return jobs, ""
        page = jobs[:size]
        return page, encode_page_token(page[-1])

    # -- backends --------------------------------------------------------------------------
    def backends(self) -> list[tuple[DeviceInfo, int]]:
        depth = self.kernel.queue_depth()
        return [(device, depth) for device in self.kernel.list_devices()]

    def backend(self, name: str) -> tuple[DeviceInfo, int]:
        if not name:
            raise InvalidArgument.for_field("name", "is required")
        return self.kernel.device(name), self.kernel.queue_depth()

    def calibration(self, name: str) -> Calibration:
        if not name:
            raise InvalidArgument.for_field("name", "is required")
        return self.kernel.calibration(name)


def check_job_id(job_id: str) -> str:
    if not job_id:
        raise InvalidArgument.for_field("job_id", "is required")
    if not _JOB_ID.fullmatch(job_id):
        raise InvalidArgument.for_field(
            "job_id", f"{quote(job_id)} is not a valid job id (1-{limits.JOB_ID_MAX} of A-Z a-z 0-9 _ -)"
        )
    return job_id


def check_id_prefix(prefix: str) -> str:
    """An id prefix of a listing: what a job id may start with, so 1-64 id characters."""
    if prefix and not _JOB_ID.fullmatch(prefix):
        raise InvalidArgument.for_field(
            "id_prefix",
            f"{quote(prefix)} is not the start of a job id (1-{limits.JOB_ID_MAX} of A-Z a-z 0-9 _ -)",
        )
    return prefix


def check_filters(query: ListQuery) -> None:
    """The text filters of a listing within the sizes of what they are compared with."""
    check_id_prefix(query.id_prefix)
    if query.target and (problem := limits.TextLimit(limits.TARGET_MAX).problem(query.target)):
        raise InvalidArgument.for_field("target", problem)
    labels = query.labels or {}
    if len(labels) > limits.LABELS_MAX:
        raise InvalidArgument.for_field("labels", f"at most {limits.LABELS_MAX} labels")
    for key, value in labels.items():
        problem = limits.TextLimit(limits.LABEL_KEY_MAX).problem(key)
        problem = problem or limits.TextLimit(limits.LABEL_VALUE_MAX, min_length=0).problem(value)
        if problem:
            raise InvalidArgument.for_field(f"labels.{quote(key, 40)}", problem)


def encode_page_token(last: Job) -> str:
    return encode_cursor((last.created_at, last.id))


def encode_cursor(cursor: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode()


def decode_page_token(token: str) -> tuple[float, str]:
    try:
        stamp, job_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return float(stamp), check_job_id(str(job_id))
    except (ValueError, TypeError, InvalidArgument):
        raise InvalidArgument.for_field("page_token", "is not a token this server issued") from None
