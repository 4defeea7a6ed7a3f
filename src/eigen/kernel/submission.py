"""Taking a job in: validation, idempotency keys, queue capacity, quotas, and storing it.

A submission is resolved (what it refers to read in: :mod:`eigen.kernel.workloads`),
answered by the job its idempotency key already names (:mod:`eigen.kernel.idempotency`),
validated against its device and its tenant's quota (:mod:`eigen.kernel.admission`,
:mod:`eigen.kernel.quotas`), and only then stored: synchronously, or (on an event loop)
by the intake's group commit (:mod:`eigen.kernel.intake`), with its compile queue entry
(:mod:`eigen.kernel.queueing`); ``accepted`` hears of every job stored. A job whose
dependencies are not all DONE is stored without its queue entry, waiting
(:mod:`eigen.kernel.dependencies`), and settled once stored.

Queue capacity is exact: a submission reserves its slots before anything is stored, and
a job holds its slot until it leaves the waiting set (starts running or ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from eigen.errors import AlreadyExists, EigenError, InvalidArgument, ResourceExhausted, Unavailable
from eigen.kernel.admission import check_submission, compile_request
from eigen.kernel.dependencies import Dependencies, check_dependencies, is_waiting, waiting_progress
from eigen.kernel.dispatch.port import Stage
from eigen.kernel.idempotency import batch_item_key, keyed_batch, keyed_job
from eigen.kernel.intake import Intake
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.ports import CompilerPort
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.qfs.health import DataHealth, storage_error
from eigen.kernel.queueing import Queueing
from eigen.kernel.quotas import QueuedJobs
from eigen.kernel.timeouts import deadline_at
from eigen.kernel.workloads import needs_resolving, resolve
from eigen.models.compiled import CompiledProgram
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.panics import must_escape
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.quota import NO_QUOTA, Quota
from eigen.models.state import JobState
from eigen.models.target import DeviceInfo


@contextlib.contextmanager
def writing(data: DataHealth) -> Iterator[None]:
    """A store write for a caller: one that fails for want of space or permission is
    answered as such (RESOURCE_EXHAUSTED, UNAVAILABLE, with the reason) and recorded
    for readiness, instead of an internal error."""
    try:
        yield
    except BaseException as exc:
        problem = None if must_escape(exc) else storage_error(exc)
        if problem is None:
            raise
        data.failed(problem)
        raise problem from None


def new_job(
    request: JobRequest,
    owner: str = "anonymous",
    idempotency_key: str | None = None,
    traceparent: str = "",
    tenant: str = DEFAULT_TENANT,
    default_timeout_s: float = 3600.0,
) -> Job:
    """A new PENDING job of ``request``, with its deadline, not stored yet."""
    now = time.time()
    return Job(
        id=uuid.uuid4().hex,
        request=request,
        state=JobState.PENDING,
        created_at=now,
        updated_at=now,
        owner=owner,
        tenant=tenant,
        idempotency_key=idempotency_key or None,
        traceparent=traceparent,
        deadline_at=deadline_at(now, request.timeout_seconds, default_timeout_s),
    )


class Submission:
    def __init__(
        self,
        lifecycle: Lifecycle,
        compiler: CompilerPort,
        artifacts: ArtifactStore,
        data: DataHealth,
        *,
        device: Callable[[str], DeviceInfo],
        known_device: Callable[[str], DeviceInfo | None],
        queueing: Queueing,
        accepted: Callable[[list[Job]], None],
        draining: threading.Event,
        queue_capacity: int = 10_000,
        queue_full_retry_s: float = 1.0,
        default_timeout_s: float = 3600.0,
        memory_limit: int | None = None,
        sessions: Callable[[JobRequest, str], JobRequest] | None = None,
    ) -> None:
        """``memory_limit``: the bytes a job's run may hold (memory admission); None: unchecked.
        ``sessions(request, tenant)``: the request admitted into its session, or refused
        (:meth:`eigen.kernel.sessions.Sessions.admitted`)."""
        self.sessions = sessions or (lambda request, tenant: request)
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.compiler = compiler
        self.artifacts = artifacts
        self.data = data
        self.device = device
        self.known_device = known_device
        self.queueing = queueing
        self.accepted = accepted
        self.draining = draining
        self.queue_capacity = queue_capacity
        self.queue_full_retry_s = queue_full_retry_s
        self.default_timeout_s = default_timeout_s
        self.memory_limit = memory_limit
        self.intake = Intake(self.accept_many)
        self.dependencies = Dependencies(lifecycle, queueing)
        lifecycle.on_ended.append(self.dependencies.ended)
        self.queued = QueuedJobs(self.store)  # max_queued_jobs of each tenant
        self._lock = threading.Lock()
        # capacity: jobs accepted that have not started running nor ended, and the slots
        # reserved by submissions being stored
        self._waiting: set[str] = set()
        self._reserved: set[str] = set()

    # -- submitting ----------------------------------------------------------------------
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
        """Validate and accept a job of ``tenant``, within its ``quota``. Returns (job,
        deduplicated): an idempotency key is the tenant's and the owner's."""
        request = self.resolved(request, tenant)
        if (existing := self._keyed(request, tenant, owner, idempotency_key)) is not None:
            return existing, True
        self.validate(request, tenant=tenant, quota=quota)
        job = self.new_job(request, owner, idempotency_key, traceparent, tenant)
        try:
            with self.queued.admitting(tenant, quota, [job]):
                self.reserve([job])
                return self.accept_many([job])[0], False
        except AlreadyExists:  # the same key stored meanwhile, by a call that raced this one
            if (existing := self._keyed(request, tenant, owner, idempotency_key)) is not None:
                return existing, True
            raise

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
        """:meth:`submit` for a caller on an event loop: the job is stored by the intake
        thread with whatever else arrives meanwhile (one transaction), so the loop never
        waits for the store. It is validated on the loop only when the compiler has the
        program's validation at hand (``validated``); otherwise on a thread, so other calls
        are served while a slow program is checked. A key already used answers its job
        (one indexed read); two calls racing with one key store one job and both answer it."""
        if needs_resolving(request) or request.session_id:  # reads files and the store: off the loop
            request = await asyncio.to_thread(self.resolved, request, tenant)
        if (existing := self._keyed(request, tenant, owner, idempotency_key)) is not None:
            return existing, True
        device = self.known_device(request.target)
        checked = self.compiler.validated(compile_request(request, device)) if device is not None else None
        if device is not None and checked is not None:
            self._validate(request, device, checked, quota)
            if request.dependencies:  # reads the store: off the loop
                await asyncio.to_thread(check_dependencies, self.store, request, tenant)
        else:
            await asyncio.to_thread(functools.partial(self.validate, request, tenant=tenant, quota=quota))
        job = self.new_job(request, owner, idempotency_key, traceparent, tenant)
        if quota.max_queued_jobs is not None:  # counts the tenant's jobs in the store: off the loop
            await asyncio.to_thread(self.queued.admit, tenant, quota, [job])
        try:
            self.reserve([job])
            return await self.intake.submit(job), False
        except AlreadyExists:  # the intake stored the same key for a call that raced this one
            if (existing := self._keyed(request, tenant, owner, idempotency_key)) is not None:
                return existing, True
            raise
        finally:
            self._release([job])  # stored: its slot is its place in the waiting set now
            self.queued.release([job])

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
        """All or nothing: every request is validated (and held to ``quota``) before any
        job is created; an error names the item (``jobs[i].<field>``), and the batch's
        jobs count together against ``max_queued_jobs``. Returns (jobs in input order,
        deduplicated): a batch's idempotency key is the tenant's and the owner's, as a
        job's, and names the whole batch (each job stores :func:`batch_item_key`)."""
        if not requests:
            raise InvalidArgument.for_field("jobs", "a batch needs at least one job")
        if idempotency_key:  # a key already used answers its jobs, compared as they were stored
            requests = [self._item(i, self.resolved, r, tenant) for i, r in enumerate(requests)]
            if (existing := self._keyed_batch(requests, tenant, owner, idempotency_key)) is not None:
                return existing, True
        validate = functools.partial(self.validate, tenant=tenant, quota=quota)
        resolved = [self._item(i, validate, r) for i, r in enumerate(requests)]
        keys = [batch_item_key(idempotency_key, i) if idempotency_key else None for i in range(len(resolved))]
        jobs = [self.new_job(r, owner, k, traceparent, tenant) for r, k in zip(resolved, keys, strict=True)]
        try:
            with self.queued.admitting(tenant, quota, jobs):
                self.reserve(jobs)
                return self.accept_many(jobs), False
        except AlreadyExists:  # the same key stored meanwhile, by a call that raced this one
            if (existing := self._keyed_batch(resolved, tenant, owner, idempotency_key)) is not None:
                return existing, True
            raise

    @staticmethod
    def _item(index: int, function: Callable[..., JobRequest], *args: Any) -> JobRequest:
        """``function(*args)`` for item ``index`` of a batch: its error names the item."""
        try:
            return function(*args)
        except EigenError as exc:
            raise exc.within(f"jobs[{index}]") from None

    # -- validation ----------------------------------------------------------------------
    def validate(
        self, request: JobRequest, *, tenant: str = DEFAULT_TENANT, quota: Quota = NO_QUOTA
    ) -> JobRequest:
        """Everything a submission of ``tenant`` is checked for (its per-job ``quota``
        too), without creating anything; the request as it will run (what it refers to
        read in: see :mod:`eigen.kernel.workloads`)."""
        request = self.resolved(request, tenant)
        self._validate(request, self.device(request.target), quota=quota)
        check_dependencies(self.store, request, tenant)
        return request

    def resolved(self, request: JobRequest, tenant: str) -> JobRequest:
        return self.sessions(resolve(request, self.store, self.artifacts, tenant), tenant)

    def _validate(
        self,
        request: JobRequest,
        device: DeviceInfo,
        checked: CompiledProgram | None = None,
        quota: Quota = NO_QUOTA,
    ) -> None:
        if checked is None:
            checked = self.compiler.validate(compile_request(request, device))
        check_submission(request, device, checked, quota, self.memory_limit)

    def _keyed(self, request: JobRequest, tenant: str, owner: str, key: str | None) -> Job | None:
        return keyed_job(self.store, request, tenant, owner, key) if key else None

    def _keyed_batch(
        self, requests: list[JobRequest], tenant: str, owner: str, key: str | None
    ) -> list[Job] | None:
        return keyed_batch(self.store, requests, tenant, owner, key) if key else None

    def new_job(
        self,
        request: JobRequest,
        owner: str,
        idempotency_key: str | None,
        traceparent: str,
        tenant: str = DEFAULT_TENANT,
    ) -> Job:
        return new_job(request, owner, idempotency_key, traceparent, tenant, self.default_timeout_s)

    # -- capacity ------------------------------------------------------------------------
    def reserve(self, jobs: Sequence[Job]) -> None:
        """Take a queue slot for each new job of a submission (all or none), or refuse it:
        the kernel is draining (UNAVAILABLE), the data folder cannot be written, or the
        queue is full (RESOURCE_EXHAUSTED with a retry delay). A slot is held by the job's
        id until it is stored (then it is the job's place in the waiting set) or refused."""
        count = len(jobs)
        if self.draining.is_set():
            raise Unavailable("the kernel is shutting down: try again shortly")
        self.data.check()
        capacity = self.queue_capacity
        with self._lock:
            waiting = len(self._waiting) + len(self._reserved)
            if waiting + count > capacity:
                retry = self.queue_full_retry_s
                raise ResourceExhausted(
                    f"queue full ({waiting} of {capacity} jobs waiting): retry in {retry:g} s",
                    metadata={"retry_after_s": f"{retry:g}"},
                )
            self._reserved.update(job.id for job in jobs)

    def _release(self, jobs: Sequence[Job]) -> None:
        with self._lock:
            self._reserved.difference_update(job.id for job in jobs)

    def wait(self, job_ids: Iterable[str]) -> None:
        """Jobs put back on a queue (resumed) take their places in the waiting set."""
        with self._lock:
            self._waiting.update(job_ids)

    def left_waiting(self, event: JobEvent) -> None:
        """Lifecycle callback: a job that starts running or ends frees its queue slot."""
        if event.state is JobState.RUNNING or event.state.terminal:
            with self._lock:
                self._waiting.discard(event.job_id)

    # -- storing -------------------------------------------------------------------------
    def accept_many(self, jobs: Sequence[Job]) -> list[Job]:
        """Store new jobs (one transaction) and hand them to ``accepted``; their reserved
        slots become places in the waiting set (a failed store releases them). A store
        that cannot write for want of space or permission is refused as such
        (RESOURCE_EXHAUSTED, UNAVAILABLE) and recorded for readiness."""
        try:
            jobs = [self._held_back(job) for job in jobs]
            ready = [job for job in jobs if not is_waiting(job)]
            with writing(self.data):  # the ready jobs' compile entries commit with them
                created = self.lifecycle.create_many(jobs, then=self.queueing.within(Stage.COMPILE, ready))
        except BaseException:
            self._release(jobs)
            raise
        with self._lock:
            self._reserved.difference_update(job.id for job in jobs)
            self._waiting.update(job.id for job in created)
        self.queued.release(created)  # counted in the store from now on (max_queued_jobs)
        self.accepted(created)
        self.queueing.after(Stage.COMPILE, [job for job in created if not is_waiting(job)])
        for job in created:
            if is_waiting(job):  # a dependency that ended before the job was stored is seen now
                self.dependencies.settle(job.id)
        return created

    def _held_back(self, job: Job) -> Job:
        """``job`` as stored: waiting (no queue entry) while a dependency is not DONE."""
        if not job.request.dependencies:
            return job
        unfinished = self.dependencies.unfinished(job.request)
        return replace(job, progress=waiting_progress(unfinished)) if unfinished else job
