"""The one service layer of system-api, shared by the gRPC servicers and the REST routes.

Validation at the edge happens here (ids, idempotency keys, page tokens and sizes); the
kernel validates what needs the device and the compiler (backend, shots, qubits, program).

Authorization happens here too, once per operation and for every edge: each public
method asks the :class:`~eigen.security.guard.Guard` whether the call's principal may do
the RPC it stands for (:data:`eigen.security.permissions.PERMISSION_OF`); the handlers
check nothing themselves. Tenant isolation as well: a job of a tenant the principal does
not see is NOT_FOUND with the very message of a job that does not exist, so neither an
answer nor its timing tells the two apart; listings only ever hold the caller's tenant
(an ``admin`` sees every tenant). With authentication off every call is the
unauthenticated principal (every role, sees every tenant): nothing is read twice then.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from eigen.errors import InvalidArgument, ResourceExhausted, quote
from eigen.kernel.store.base import JobFilter
from eigen.kernel.store.retention import stored_job
from eigen.models import limits
from eigen.models.chunks import DEFAULT_CHUNK_OUTCOMES, Chunk, split
from eigen.models.credentials import TENANT_MAX, TENANT_NAME
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import JOB_ID_PATTERN, SESSION_ID_PATTERN, Job, JobEvent, JobRequest
from eigen.models.principal import Principal
from eigen.models.result import JobResult
from eigen.models.session import Session
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.observability import context
from eigen.security.guard import Guard
from eigen.system_api.ports import KernelPort

T = TypeVar("T")

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
    """``guard``: who may do what (default: authentication off, every call allowed).
    ``local``: the kernel is in this process, so a quick read of it (a job row) runs on
    the caller's event loop instead of a worker thread."""

    def __init__(self, kernel: KernelPort, guard: Guard | None = None, *, local: bool = False) -> None:
        self.kernel = kernel
        self.guard = guard if guard is not None else Guard()
        self.local = local

    # -- the checks every operation goes through -------------------------------------------
    def authorize(self, operation: str, *, backend: str | None = None) -> Principal:
        """The call's principal, once the guard allowed it ``operation`` (an RPC name);
        PERMISSION_DENIED or RESOURCE_EXHAUSTED (a rate) otherwise."""
        principal = context.current().principal
        self.guard.authorize(principal, operation, backend=backend)
        return principal

    def visible(self, principal: Principal, job: Job) -> Job:
        """``job``, or the NOT_FOUND of a job that does not exist when ``principal`` does
        not see its tenant."""
        if not principal.sees(job.tenant):
            stored_job(None, job.id)  # raises: the message of an unknown id
        return job

    def _check_visible(self, principal: Principal, job_id: str) -> None:
        """NOT_FOUND unless the principal sees the job (one read; none for an admin)."""
        if not principal.admin:
            self.visible(principal, self.kernel.get(job_id))

    async def _check_visible_async(self, principal: Principal, job_id: str) -> None:
        if not principal.admin:
            self.visible(principal, await self._read(self.kernel.get, job_id))

    async def _read(self, function: Callable[..., T], *args: Any, inline: bool | None = None) -> T:
        """A quick kernel call from an event loop: ``inline`` (default: when the kernel is
        local), else on a worker thread (a call to another process, or a large read)."""
        if self.local if inline is None else inline:
            return function(*args)
        import asyncio  # here: a CLI folder read imports this module and never awaits

        return await asyncio.to_thread(function, *args)

    @contextlib.contextmanager
    def _submitting(self, principal: Principal, operation: str) -> Iterator[dict[str, Any]]:
        """The kernel's keyword arguments of a submission by ``principal`` in this call
        (owner, traceparent, tenant and the policy's quota); a submission the kernel then
        refuses for a quota (its error names the ``limit``) is audited as a refusal."""
        call = context.current()
        try:
            yield {
                "owner": context.checked_caller(call),
                "traceparent": call.traceparent,
                "tenant": principal.tenant,
                "quota": self.guard.quota(principal),
            }
        except ResourceExhausted as exc:
            if "limit" in exc.metadata:
                self.guard.refused(principal, operation, exc)
            raise

    # -- submissions -----------------------------------------------------------------------
    def submit(self, request: JobRequest, idempotency_key: str = "") -> tuple[Job, bool]:
        principal = self.authorize("SubmitJob", backend=request.target)
        return self.submit_as(principal, "SubmitJob", request, idempotency_key)

    def submit_as(
        self, principal: Principal, operation: str, request: JobRequest, idempotency_key: str = ""
    ) -> tuple[Job, bool]:
        """A submission ``operation`` already authorized for ``principal`` (SubmitJob, or
        one item of SubmitBatchStream)."""
        key = check_key(idempotency_key)
        with self._submitting(principal, operation) as given:
            return self.kernel.submit(request, idempotency_key=key, **given)

    async def submit_async(self, request: JobRequest, idempotency_key: str = "") -> tuple[Job, bool]:
        """:meth:`submit` for callers on an event loop."""
        principal = self.authorize("SubmitJob", backend=request.target)
        key = check_key(idempotency_key)
        with self._submitting(principal, "SubmitJob") as given:
            return await self.kernel.submit_async(request, idempotency_key=key, **given)

    def submit_batch(self, requests: list[JobRequest], idempotency_key: str = "") -> tuple[list[Job], bool]:
        """(jobs in input order, deduplicated): the same key with the same jobs answers the
        jobs it stored first; with other jobs, FAILED_PRECONDITION."""
        if len(requests) > MAX_BATCH:
            raise InvalidArgument.for_field("jobs", f"at most {MAX_BATCH} jobs per batch")
        principal = context.current().principal
        for target in dict.fromkeys(request.target for request in requests) or (None,):
            self.guard.authorize(principal, "SubmitBatch", backend=target)  # each backend once
        key = check_key(idempotency_key)
        with self._submitting(principal, "SubmitBatch") as given:
            return self.kernel.submit_batch(requests, idempotency_key=key, **given)

    # -- reads -----------------------------------------------------------------------------
    def result_chunks(self, job_id: str, chunk_size: int = 0) -> Iterator[Chunk]:
        principal = self.authorize("StreamResults")
        if not 0 <= chunk_size <= MAX_CHUNK_SIZE:
            raise InvalidArgument.for_field("chunk_size", f"must be between 0 and {MAX_CHUNK_SIZE}")
        check_job_id(job_id)
        self._check_visible(principal, job_id)
        return split(self.kernel.results(job_id), chunk_size or DEFAULT_CHUNK_OUTCOMES)

    def get(self, job_id: str) -> Job:
        principal = self.authorize("GetJob")
        return self.visible(principal, self.kernel.get(check_job_id(job_id)))

    def cancel(self, job_id: str) -> Job:
        principal = self.authorize("CancelJob")
        self._check_visible(principal, check_job_id(job_id))
        return self.kernel.cancel(job_id)

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        """The job's events after ``after_seq``; NOT_FOUND (now, before any event) for a
        job that does not exist or that the caller does not see."""
        principal = self.authorize("WatchJob")
        if after_seq < 0:
            raise InvalidArgument.for_field("after_seq", "must not be negative")
        self.visible(principal, self.kernel.get(check_job_id(job_id)))
        return self.kernel.watch(job_id, after_seq, active)

    def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        principal = self.authorize("WatchJob")
        if after_seq < 0:
            raise InvalidArgument.for_field("after_seq", "must not be negative")
        check_job_id(job_id)
        if principal.admin:
            return self.kernel.watch_async(job_id, after_seq)
        return self._watch_visible(principal, job_id, after_seq)

    async def _watch_visible(
        self, principal: Principal, job_id: str, after_seq: int
    ) -> AsyncIterator[JobEvent]:
        await self._check_visible_async(principal, job_id)
        async for event in self.kernel.watch_async(job_id, after_seq):
            yield event

    def results(self, job_id: str) -> JobResult:
        principal = self.authorize("GetJobResults")
        self._check_visible(principal, check_job_id(job_id))
        return self.kernel.results(job_id)

    async def results_after(
        self, job_id: str, wait_s: float = 0.0, *, inline: bool | None = None
    ) -> JobResult:
        """GetJobResults after waiting up to ``wait_s`` for the job to end (the long poll):
        one authorization, and the tenant checked before any waiting. ``inline``: whether
        the results are read on the event loop (default: when the kernel is local); a
        REST route reads them on a worker thread."""
        principal = self.authorize("GetJobResults")
        if not 0 <= wait_s <= MAX_WAIT_S:  # NaN fails too
            raise InvalidArgument.for_field("wait_seconds", f"must be between 0 and {MAX_WAIT_S:g} seconds")
        check_job_id(job_id)
        await self._check_visible_async(principal, job_id)
        if wait_s > 0:
            await self.kernel.wait_async(job_id, wait_s)
        return await self._read(self.kernel.results, job_id, inline=inline)

    def list_jobs(self, query: ListQuery) -> tuple[list[Job], str]:
        principal = self.authorize("ListJobs")
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
                tenant=None if principal.admin else principal.tenant,
            )
        )
        if not principal.admin:  # whatever the kernel port does with the filter
            jobs = [job for job in jobs if job.tenant == principal.tenant]
        if len(jobs) <= size:
            return jobs, ""
        page = jobs[:size]
        return page, encode_page_token(page[-1])

    def dead_letters(
        self, tenant: str = "", page_size: int = 0, page_token: str = ""
    ) -> tuple[list[DeadLetter], str]:
        """ListDeadLetters, newest first, with keyset pagination. ``tenant`` ("" for every
        tenant the caller sees): an ``admin`` sees any tenant's; anyone else (a
        tenant-admin) only its own, so that another tenant asked for is an empty page."""
        principal = self.authorize("ListDeadLetters")
        size = page_size or DEFAULT_PAGE_SIZE
        if not 0 < size <= MAX_PAGE_SIZE:
            raise InvalidArgument.for_field("page_size", f"must be between 1 and {MAX_PAGE_SIZE}")
        if tenant and not TENANT_NAME.fullmatch(tenant):
            raise InvalidArgument.for_field(
                "tenant", f"{quote(tenant, 64)} is not a tenant name (1-{TENANT_MAX} of A-Z a-z 0-9 . _ -)"
            )
        before = decode_page_token(page_token) if page_token else None
        if not principal.admin:
            if tenant and tenant != principal.tenant:
                return [], ""
            tenant = principal.tenant
        letters = self.kernel.dead_letters(tenant or None, size + 1, before)
        if not principal.admin:  # whatever the kernel port does with the filter
            letters = [letter for letter in letters if letter.tenant == principal.tenant]
        if len(letters) <= size:
            return letters, ""
        page = letters[:size]
        return page, encode_cursor((page[-1].at, page[-1].job_id))

    # -- sessions (docs/scheduling.md) ---------------------------------------------------
    def open_session(self, target: str, max_time_s: float = 0.0, idle_s: float = 0.0) -> Session:
        """A session of the caller's tenant on ``target``; 0: the default times."""
        principal = self.authorize("OpenSession", backend=target or None)
        if not target:
            raise InvalidArgument.for_field("target", "is required: the device the session's jobs run on")
        for name, value in (("max_time_s", max_time_s), ("idle_s", idle_s)):
            if not math.isfinite(value) or value < 0:
                raise InvalidArgument.for_field(name, f"must be a positive number of seconds, not {value}")
        return self.kernel.open_session(
            principal.tenant,
            context.checked_caller(context.current()),
            target,
            max_time_s or None,
            idle_s or None,
        )

    def get_session(self, session_id: str) -> Session:
        principal = self.authorize("GetSession")
        return self.kernel.get_session(check_session_id(session_id), _tenant_of(principal))

    def close_session(self, session_id: str) -> Session:
        principal = self.authorize("CloseSession")
        return self.kernel.close_session(check_session_id(session_id), _tenant_of(principal))

    def cancel_session(self, session_id: str) -> Session:
        principal = self.authorize("CancelSession")
        return self.kernel.cancel_session(check_session_id(session_id), _tenant_of(principal))

    # -- backends --------------------------------------------------------------------------
    def backends(self) -> list[tuple[DeviceInfo, int]]:
        self.authorize("ListBackends")
        depth = self.kernel.queue_depth()
        return [(device, depth) for device in self.kernel.list_devices()]

    def backend(self, name: str) -> tuple[DeviceInfo, int]:
        self.authorize("GetBackend", backend=name or None)
        if not name:
            raise InvalidArgument.for_field("name", "is required")
        return self.kernel.device(name), self.kernel.queue_depth()

    def calibration(self, name: str) -> Calibration:
        self.authorize("GetCalibration", backend=name or None)
        if not name:
            raise InvalidArgument.for_field("name", "is required")
        return self.kernel.calibration(name)


def _tenant_of(principal: Principal) -> str | None:
    """Whose sessions the principal sees: its tenant's (None: every tenant's, an admin)."""
    return None if principal.admin else principal.tenant


def check_session_id(session_id: str) -> str:
    """``session_id`` when it is one (32 hex digits), else INVALID_ARGUMENT."""
    if not re.fullmatch(SESSION_ID_PATTERN, session_id or ""):
        raise InvalidArgument.for_field(
            "session_id", f"{quote(session_id, 64)} is not a session id (32 hex digits)"
        )
    return session_id


def with_principal(call: context.CallContext, principal: Principal | None) -> context.CallContext:
    """``call`` as the principal an edge authenticated (unchanged while authentication is
    off); its caller becomes the principal's subject, whatever ``x-eigen-caller`` said."""
    if principal is None:
        return call
    caller = principal.owner if limits.CALLER.problem(principal.owner) is None else context.ANONYMOUS
    return replace(call, authenticated=principal, caller=caller)


def check_key(idempotency_key: str) -> str | None:
    """An idempotency key as the kernel takes it (None for none), or INVALID_ARGUMENT."""
    if idempotency_key and not _KEY.fullmatch(idempotency_key):
        raise InvalidArgument.for_field(
            "idempotency_key",
            f"must be 1-{limits.IDEMPOTENCY_KEY_MAX} printable ASCII characters without spaces",
        )
    return idempotency_key or None


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
