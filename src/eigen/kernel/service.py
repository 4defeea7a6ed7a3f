"""eigen-kernel (QRTX): accepts jobs, runs the pipeline on worker threads, serves state,
events and results, enforces timeouts, and resumes unfinished work after a restart.

Shutdown is two steps: :meth:`Kernel.drain` stops taking work (submissions are refused,
nothing new is compiled or started) and gives running jobs a grace period to finish;
:meth:`Kernel.stop` then ends the workers. Whatever did not finish stays in the store
(PENDING, QUEUED, or RUNNING with its hybrid checkpoint) and the next start resumes it.

Workers survive whatever a job does: each loop catches every failure but the
interpreter's own signals (:mod:`eigen.models.panics`) and ends the jobs it held in
ERROR. A worker thread that ends anyway is replaced by the supervisor thread, which also
puts jobs stranded by a full or unwritable data folder back on the queue once the folder
can be written again; :meth:`Kernel.problems` (readiness) names both conditions.

Queue capacity is exact: a submission reserves its slots before anything is stored, and
a job holds its slot until it leaves the waiting set (starts running or ends).

Every job belongs to the tenant it was submitted for (``tenant``, data handed in by the
api role), and a submission is held to that tenant's ``quota`` before anything is stored
(:mod:`eigen.kernel.quotas`). Who may see which tenant's jobs is the service layer's
decision; the kernel only refuses to read another tenant's job by reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass

from eigen.errors import (
    AlreadyExists,
    EigenError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from eigen.kernel.admission import check_submission, compile_request
from eigen.kernel.events import EventBus
from eigen.kernel.idempotency import keyed_job
from eigen.kernel.intake import Intake
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.pipeline import Pipeline
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.qfs.health import DataHealth, storage_error
from eigen.kernel.quotas import QueuedJobs
from eigen.kernel.scheduler import PriorityScheduler
from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.retention import check_results_ready, load_result, stored_job
from eigen.kernel.watch import WatchCursor, settle, waker
from eigen.kernel.workloads import needs_resolving, resolve
from eigen.models.compiled import CompiledProgram
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.panics import describe, must_escape
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.quota import NO_QUOTA, Quota
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus
from eigen.observability import metrics
from eigen.observability.tracing import traced_port

log = logging.getLogger(__name__)

# Port calls that get a span of their own (cheap look-ups such as ``device`` do not).
COMPILER_SPANS = frozenset({"compile", "validate", "optimize"})
DRIVER_SPANS = frozenset({"execute", "execute_many", "estimate", "calibrate"})
# jobs compiled per batch (their moves share transactions); more wait for the next batch
COMPILE_BATCH = 32
EXECUTE_BATCH = 16  # small circuits executed per batch (see Pipeline.batchable)
MAX_STRANDED = 3  # times a job may wait for a writable data folder before it ends in ERROR


@dataclass(frozen=True)
class KernelSettings:
    compile_workers: int = 1
    execute_workers: int = 2
    queue_capacity: int = 10_000
    default_timeout_s: float = 3600.0
    watchdog_interval_s: float = 0.1
    compile_timeout_s: float = 300.0  # a compile running longer ends its job in TIMEOUT; 0: none
    backend_refresh_s: float = 30.0  # how often eigen_backend_available is refreshed
    supervise_interval_s: float = 0.5  # how often dead workers and stranded jobs are looked at
    queue_full_retry_s: float = 1.0  # the retry delay a queue-full refusal suggests


class Kernel:
    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        compiler: CompilerPort,
        drivers: DriverPort,
        settings: KernelSettings | None = None,
    ) -> None:
        self.settings = settings or KernelSettings()
        self.store = store
        self.drivers = traced_port(drivers, "driver-manager", DRIVER_SPANS)
        self.compiler = traced_port(compiler, "compiler", COMPILER_SPANS)
        self.bus = EventBus()
        self.lifecycle = Lifecycle(store, self.bus)
        self.scheduler: PriorityScheduler[str] = PriorityScheduler(self.settings.queue_capacity)
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._stopped = False
        self.data = DataHealth(artifacts.root)
        self.pipeline = Pipeline(
            self.lifecycle,
            self.compiler,
            self.drivers,
            artifacts,
            self.scheduler,
            self.device,
            self._stopping,
            compile_timeout_s=self.settings.compile_timeout_s or None,
            default_timeout_s=self.settings.default_timeout_s,
            data=self.data,
            strand=self._strand,
        )
        self._compile_queue: queue.Queue[Job | None] = queue.Queue()  # jobs as accepted
        self._intake = Intake(self._accept_many)
        self.queued = QueuedJobs(store)  # max_queued_jobs of each tenant
        self._deadlines: dict[str, float] = {}
        self._devices: dict[str, DeviceInfo] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # capacity: jobs accepted that have not started running nor ended, and the slots
        # reserved by submissions being stored
        self._waiting: set[str] = set()
        self._reserved: set[str] = set()
        self.lifecycle.on_state = self._left_waiting
        # workers by thread name: their loop, and what each holds (to end if it dies)
        self._workers: dict[str, tuple[Callable[[], None], threading.Thread]] = {}
        self._in_hand: dict[str, list[str]] = {}
        self._dead: dict[str, str] = {}  # thread name -> why it ended, until replaced
        # jobs that could not be written, in order: the problem, and how often it came back
        self._stranded: dict[str, tuple[EigenError, int]] = {}
        self._strand_counts: dict[str, int] = {}  # by job, until it ends

    # -- lifecycle of the kernel itself --------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._intake.start()
        metrics.track_queue(self, self.queue_depth, self.settings.queue_capacity)
        workers: list[tuple[str, Callable[[], None]]] = [
            *[("compile", self._compile_loop)] * self.settings.compile_workers,
            *[("execute", self._execute_loop)] * self.settings.execute_workers,
            ("watchdog", self._watchdog_loop),
        ]
        if self.settings.backend_refresh_s > 0:
            workers.append(("backends", self._backends_loop))
        for index, (name, target) in enumerate(workers):
            self._spawn(f"eigen-{name}-{index}", target)
        supervisor = threading.Thread(target=self._supervise_loop, name="eigen-supervisor", daemon=True)
        supervisor.start()
        self._threads.append(supervisor)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        """Start (or restart) the worker thread ``name`` running ``target``."""
        thread = threading.Thread(target=self._worker, args=(name, target), name=name, daemon=True)
        with self._lock:
            previous = self._workers.get(name)
            self._workers[name] = (target, thread)
            if previous is not None and previous[1] in self._threads:
                self._threads.remove(previous[1])
            self._threads.append(thread)
        thread.start()

    def _worker(self, name: str, target: Callable[[], None]) -> None:
        """Run a worker's loop; a loop that ends by an exception is recorded as dead (the
        supervisor replaces it)."""
        try:
            target()
        except BaseException as exc:
            with self._lock:
                self._dead[name] = describe(exc)
            log.critical("worker died", extra={"worker": name, "error": describe(exc)}, exc_info=exc)

    def supervise(self) -> None:
        """Replace worker threads that ended (not by a stop or a drain), ending the jobs
        they held in ERROR; put stranded jobs back on the queue once the data folder can
        be written again. Runs on the supervisor thread; callable directly (tests)."""
        if self._stopping.is_set():
            return
        with self._lock:
            workers = list(self._workers.items())
        for name, (target, thread) in workers:
            with self._lock:
                dying = name in self._dead
            if dying:
                thread.join(1.0)  # it has recorded its death and is ending
            if thread.is_alive():
                continue
            role = name.split("-")[1]
            if self._draining.is_set() and role in ("compile", "execute"):
                continue  # ended by the drain
            with self._lock:
                reason = self._dead.setdefault(name, "the thread ended")
                held = self._in_hand.pop(name, [])
            log.error("replacing a dead worker", extra={"worker": name, "error": reason, "jobs": len(held)})
            for job_id in held:
                self._abandon(job_id, f"internal error: the worker running this job died ({reason})")
            self._spawn(name, target)
            with self._lock:
                self._dead.pop(name, None)
        self._resume_stranded()

    def _supervise_loop(self) -> None:
        while not self._stopping.wait(self.settings.supervise_interval_s):
            try:
                self.supervise()
            except BaseException as exc:
                if must_escape(exc):
                    raise
                log.exception("supervising the workers failed")

    def problems(self) -> list[str]:
        """What keeps this kernel from serving (readiness): dead workers not yet replaced,
        and a data folder that cannot be written (probed again, at most once a second)."""
        with self._lock:
            found = [f"worker {name} died ({reason})" for name, reason in sorted(self._dead.items())]
        try:
            self.data.check()
        except EigenError as exc:
            found.append(exc.message)
        return found

    def drain(self, grace_s: float = 30.0) -> bool:
        """Stop taking work and give running jobs up to ``grace_s`` to finish. New
        submissions are refused (UNAVAILABLE), nothing new is compiled or started: those
        jobs stay PENDING or QUEUED in the store for the next start. Returns True when
        every worker finished within the grace period."""
        with self._lock:
            first = not self._draining.is_set()
            self._draining.set()
        if first:
            for _ in range(self.settings.compile_workers):
                self._compile_queue.put(None)
            log.info("kernel draining", extra={"grace_s": grace_s})
        with self._lock:
            workers = [t for t in self._threads if t.name.split("-")[1] in ("compile", "execute")]
        deadline = time.monotonic() + grace_s
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        drained = not any(t.is_alive() for t in workers)
        if not drained:
            log.warning("grace period over with jobs still running; they resume at the next start")
        return drained

    def stop(self, timeout: float = 10.0) -> None:
        """End the workers (after :meth:`drain`, or at once). A hybrid loop still running is
        interrupted at its next evaluation and stays RUNNING with its checkpoint."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            first_drain = not self._draining.is_set()
            self._draining.set()
        self._intake.stop(timeout)
        self._stopping.set()
        if first_drain:
            for _ in range(self.settings.compile_workers):
                self._compile_queue.put(None)
        self.scheduler.close()
        self.bus.close()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._threads.clear()
        metrics.untrack_queue(self)

    def _recover(self) -> None:
        """Resume what a previous run left: compile again, re-queue, re-run."""
        pending = (JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING)
        for job in self.store.in_states(pending):
            self._resume(job, "requeued after a restart")
            log.info("resumed job", extra={"job_id": job.id, "state": job.state.value})

    def _resume(self, job: Job, message: str) -> None:
        """Put an unfinished job back where its state says: the compile queue or the
        scheduler (a RUNNING one moves to QUEUED first, to run again)."""
        if job.state is JobState.RUNNING:
            self.lifecycle.move(job.id, JobState.QUEUED, message)
        self._track_deadline(job)
        with self._lock:
            self._waiting.add(job.id)
        if job.state in (JobState.PENDING, JobState.COMPILING):
            self._compile_queue.put(job)
        else:
            self.scheduler.push(job.id, job.request.priority)

    def _strand(self, job_id: str, problem: EigenError) -> None:
        """A job whose files or state could not be written (the data folder is full or
        unwritable): kept here until :meth:`supervise` finds the folder writable again.
        A job stranded ``MAX_STRANDED`` times (e.g. its results alone do not fit in the
        space there is) ends in ERROR with the problem instead of going round again."""
        with self._lock:
            times = self._strand_counts.get(job_id, 0) + 1
            self._strand_counts[job_id] = times
            self._stranded[job_id] = (problem, times)
        log.warning("job waits for the data folder to be writable", extra={"job_id": job_id})

    def _resume_stranded(self) -> None:
        with self._lock:
            stranded = list(self._stranded.items())
        if not stranded:
            return
        try:
            self.data.check()
        except EigenError:
            return  # still full or unwritable: the next round looks again
        for job_id, (problem, times) in stranded:
            try:
                job = self.store.get(job_id)
                if job is not None and not job.terminal and times >= MAX_STRANDED:
                    self.pipeline.fail(job_id, problem.code, problem.message)
                elif job is not None and not job.terminal:
                    self._resume(job, "requeued: the data folder can be written again")
            except BaseException as exc:
                if must_escape(exc):
                    raise
                found = storage_error(exc)
                if found is not None:
                    self.data.failed(found)
                    return
                log.exception("resuming a stranded job failed", extra={"job_id": job_id})
            with self._lock:
                if self._stranded.get(job_id, (problem, 0))[1] == times:  # not stranded again since
                    self._stranded.pop(job_id, None)
            log.info("stranded job resumed", extra={"job_id": job_id})

    def _abandon(self, job_id: str, summary: str) -> None:
        """End a job a worker held when it failed outside any stage (or died)."""
        try:
            job = self.store.get(job_id)
            if job is not None and not job.terminal:
                self.pipeline.fail(job_id, "EIGEN_INTERNAL", summary)
        except BaseException as exc:
            if must_escape(exc):
                raise
            problem = storage_error(exc)
            if problem is not None:
                self.data.failed(problem)
                self._strand(job_id, problem)
            else:
                log.exception("ending an abandoned job failed", extra={"job_id": job_id})

    # -- the KernelPort --------------------------------------------------------------------
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
        request = self._resolved(request, tenant)
        if (existing := self._keyed(request, tenant, owner, idempotency_key)) is not None:
            return existing, True
        self.validate(request, tenant=tenant, quota=quota)
        job = self._new_job(request, owner, idempotency_key, traceparent, tenant)
        try:
            with self.queued.admitting(tenant, quota, [job]):
                self._reserve([job])
                return self._accept_many([job])[0], False
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
        if needs_resolving(request):  # reads files and the store: off the loop
            request = await asyncio.to_thread(self._resolved, request, tenant)
        if (existing := self._keyed(request, tenant, owner, idempotency_key)) is not None:
            return existing, True
        device = self._known_device(request.target)
        checked = self._cached_validation(request, device) if device is not None else None
        if device is not None and checked is not None:
            self._validate(request, device, checked, quota)
        else:
            await asyncio.to_thread(functools.partial(self.validate, request, tenant=tenant, quota=quota))
        job = self._new_job(request, owner, idempotency_key, traceparent, tenant)
        if quota.max_queued_jobs is not None:  # counts the tenant's jobs in the store: off the loop
            await asyncio.to_thread(self.queued.admit, tenant, quota, [job])
        try:
            self._reserve([job])
            return await self._intake.submit(job), False
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
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> list[Job]:
        """All or nothing: every request is validated (and held to ``quota``) before any
        job is created; an error names the item (``jobs[i].<field>``), and the batch's
        jobs count together against ``max_queued_jobs``. Jobs are returned in input order."""
        if not requests:
            raise InvalidArgument.for_field("jobs", "a batch needs at least one job")
        resolved = []
        for index, request in enumerate(requests):
            try:
                resolved.append(self.validate(request, tenant=tenant, quota=quota))
            except EigenError as exc:
                raise exc.within(f"jobs[{index}]") from None
        jobs = [self._new_job(request, owner, None, traceparent, tenant) for request in resolved]
        with self.queued.admitting(tenant, quota, jobs):
            self._reserve(jobs)
            return self._accept_many(jobs)

    def validate(
        self, request: JobRequest, *, tenant: str = DEFAULT_TENANT, quota: Quota = NO_QUOTA
    ) -> JobRequest:
        """Everything a submission of ``tenant`` is checked for (its per-job ``quota``
        too), without creating anything; the request as it will run (what it refers to
        read in: see :mod:`eigen.kernel.workloads`)."""
        request = self._resolved(request, tenant)
        self._validate(request, self.device(request.target), quota=quota)
        return request

    def _resolved(self, request: JobRequest, tenant: str) -> JobRequest:
        return resolve(request, self.store, self.pipeline.artifacts, tenant)

    def _known_device(self, name: str) -> DeviceInfo | None:
        with self._lock:
            return self._devices.get(name)

    def _cached_validation(self, request: JobRequest, device: DeviceInfo) -> CompiledProgram | None:
        """The compiler's validation of ``request`` when it has it at hand, else None."""
        return self.compiler.validated(compile_request(request, device))

    def _reserve(self, jobs: Sequence[Job]) -> None:
        """Take a queue slot for each new job of a submission (all or none), or refuse it:
        the kernel is draining (UNAVAILABLE), the data folder cannot be written, or the
        queue is full (RESOURCE_EXHAUSTED with a retry delay). A slot is held by the job's
        id until it is stored (then it is the job's place in the waiting set) or refused."""
        count = len(jobs)
        if self._draining.is_set():
            raise Unavailable("the kernel is shutting down: try again shortly")
        self.data.check()
        capacity = self.settings.queue_capacity
        with self._lock:
            waiting = len(self._waiting) + len(self._reserved)
            if waiting + count > capacity:
                retry = self.settings.queue_full_retry_s
                raise ResourceExhausted(
                    f"queue full ({waiting} of {capacity} jobs waiting): retry in {retry:g} s",
                    metadata={"retry_after_s": f"{retry:g}"},
                )
            self._reserved.update(job.id for job in jobs)

    def _release(self, jobs: Sequence[Job]) -> None:
        with self._lock:
            self._reserved.difference_update(job.id for job in jobs)

    def _left_waiting(self, event: JobEvent) -> None:
        """Lifecycle callback: a job that starts running or ends frees its queue slot."""
        if event.state is JobState.RUNNING or event.state.terminal:
            with self._lock:
                self._waiting.discard(event.job_id)
                if event.state.terminal:
                    self._strand_counts.pop(event.job_id, None)

    @staticmethod
    def _new_job(
        request: JobRequest,
        owner: str,
        idempotency_key: str | None,
        traceparent: str,
        tenant: str = DEFAULT_TENANT,
    ) -> Job:
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
        )

    def _accept_many(self, jobs: Sequence[Job]) -> list[Job]:
        """Store new jobs (one transaction) and put them on the compile queue; their
        reserved slots become places in the waiting set (a failed store releases them).
        A store that cannot write for want of space or permission is refused as such
        (RESOURCE_EXHAUSTED, UNAVAILABLE) and recorded for readiness."""
        try:
            with self._writing():
                created = self.lifecycle.create_many(jobs)
        except BaseException:
            self._release(jobs)
            raise
        with self._lock:
            self._reserved.difference_update(job.id for job in jobs)
            self._waiting.update(job.id for job in created)
        self.queued.release(created)  # counted in the store from now on (max_queued_jobs)
        for job in created:
            self._track_deadline(job)
            self._compile_queue.put(job)
        return created

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A store write for a caller: one that fails for want of space or permission is
        answered as such (RESOURCE_EXHAUSTED, UNAVAILABLE, with the reason) and recorded
        for readiness, instead of an internal error."""
        try:
            yield
        except BaseException as exc:
            problem = None if must_escape(exc) else storage_error(exc)
            if problem is None:
                raise
            self.data.failed(problem)
            raise problem from None

    def _keyed(self, request: JobRequest, tenant: str, owner: str, key: str | None) -> Job | None:
        return keyed_job(self.store, request, tenant, owner, key) if key else None

    def _validate(
        self,
        request: JobRequest,
        device: DeviceInfo,
        checked: CompiledProgram | None = None,
        quota: Quota = NO_QUOTA,
    ) -> None:
        if checked is None:
            checked = self.compiler.validate(compile_request(request, device))
        check_submission(request, device, checked, quota)

    def get(self, job_id: str) -> Job:
        return stored_job(self.store.get(job_id), job_id)

    def list_jobs(self, query: JobFilter) -> list[Job]:
        return self.store.list_jobs(query)

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state is JobState.CANCELLED:
            return job
        with self._writing():
            moved = self.lifecycle.move(job_id, JobState.CANCELLED, "cancelled by request")
        if moved is None:
            job = self.get(job_id)
            if job.state is JobState.CANCELLED:
                return job
            raise FailedPrecondition(f"job {job_id} already ended in {job.state.value}")
        self._untrack(job_id)
        return moved

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        """Events of a job after ``after_seq``, live, until its terminal event."""
        cursor = WatchCursor(self.bus, self.store, self._state, job_id, after_seq)
        while active() and not self._stopping.is_set():
            yield from cursor.next()
            if cursor.over:
                return
            cursor.waited(news=self.bus.wait(job_id, cursor.seq, timeout=0.5))

    async def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        """:meth:`watch` for asyncio callers: the same events, waiting on the event loop
        (woken through the bus) instead of holding a thread."""
        loop = asyncio.get_running_loop()
        news: list[asyncio.Future[bool]] = [loop.create_future()]  # the one to wake
        wake = waker(loop, lambda: news[0])
        self.bus.subscribe(job_id, wake)
        try:
            cursor = WatchCursor(self.bus, self.store, self._state, job_id, after_seq)
            while not self._stopping.is_set():
                if news[0].done():
                    news[0] = loop.create_future()
                for event in cursor.next():
                    yield event
                if cursor.over:
                    return
                timer = loop.call_later(0.5, settle, news[0], False)  # a plain future, no task per wait
                try:
                    woken = await news[0]
                finally:
                    timer.cancel()
                cursor.waited(news=woken)
        finally:
            self.bus.unsubscribe(job_id, wake)

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        """Wait on the event loop until the job has ended (True) or ``timeout_s`` has
        passed (False); woken by the bus on the job's terminal event only."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[bool] = loop.create_future()
        wake = waker(loop, lambda: ended)
        self.bus.subscribe(job_id, wake, ends_only=True)
        try:
            if self._has_ended(job_id) or self._stopping.is_set():
                return self._has_ended(job_id)
            timer = loop.call_later(timeout_s, settle, ended, False)
            try:
                await ended
            finally:
                timer.cancel()
            return self._has_ended(job_id)
        finally:
            self.bus.unsubscribe(job_id, wake)

    def _has_ended(self, job_id: str) -> bool:
        if self.bus.final(job_id) is not None:
            return True
        if self.bus.knows(job_id):  # its events so far are here, and none ended it
            return False
        return self._state(job_id).terminal  # NotFound for no such job

    def _state(self, job_id: str) -> JobState:
        head = self.store.head(job_id)
        if head is None:
            raise NotFound(f"job {job_id} not found")
        return head[0]

    def results(self, job_id: str) -> JobResult:
        final = self.bus.final(job_id)
        if final is not None and final.state is JobState.DONE:  # ended here: no need to read the job
            return load_result(self.store, job_id)
        check_results_ready(self.get(job_id))
        return load_result(self.store, job_id)  # FAILED_PRECONDITION once results expired

    # -- devices ---------------------------------------------------------------------------
    def device(self, name: str) -> DeviceInfo:
        with self._lock:
            cached = self._devices.get(name)
        if cached is None:
            cached = self.drivers.device(name)
            with self._lock:
                self._devices[name] = cached
        return cached

    def list_devices(self) -> list[DeviceInfo]:
        return self.drivers.list_devices()

    def calibration(self, name: str) -> Calibration:
        return self.drivers.calibrate(name)

    def queue_depth(self) -> int:
        return len(self.scheduler) + self._compile_queue.qsize()

    # -- workers ---------------------------------------------------------------------------
    def _compile_loop(self) -> None:
        name = threading.current_thread().name
        while True:
            batch, last = self._compile_batch()
            if batch and not self._draining.is_set():  # draining: left PENDING for the next start
                self._hold(name, [job.id for job in batch], functools.partial(self.pipeline.compile, batch))
            if last:
                return

    def _hold(self, name: str, job_ids: list[str], work: Callable[[], None]) -> None:
        """Run a worker's ``work`` on ``job_ids``; a failure outside the stages (which end
        their own jobs) ends the jobs still unfinished in ERROR and the worker goes on."""
        with self._lock:
            self._in_hand[name] = job_ids
        try:
            work()
        except BaseException as exc:
            if must_escape(exc):
                raise
            log.error("a worker's batch failed", extra={"worker": name, "error": describe(exc)}, exc_info=exc)
            for job_id in job_ids:
                self._abandon(job_id, f"internal error: {describe(exc)}")
        with self._lock:
            self._in_hand.pop(name, None)

    def _compile_batch(self) -> tuple[list[Job], bool]:
        """The next jobs to compile: one (waiting for it), then whatever else has arrived,
        up to ``COMPILE_BATCH``; and whether the queue said stop (None) meanwhile."""
        batch: list[Job] = []
        job = self._compile_queue.get()
        while job is not None:
            batch.append(job)
            if len(batch) >= COMPILE_BATCH:
                return batch, False
            try:
                job = self._compile_queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _execute_loop(self) -> None:
        name = threading.current_thread().name
        while not self._draining.is_set():
            job_ids = self.scheduler.pop_batch(EXECUTE_BATCH, 0.5, self.pipeline.batchable)
            if not job_ids:
                continue
            if self._draining.is_set():
                return  # left QUEUED: the next start runs them
            metrics.JOBS_RUNNING.inc(len(job_ids))
            try:
                self._hold(name, job_ids, functools.partial(self.pipeline.execute, job_ids))
            finally:
                metrics.JOBS_RUNNING.dec(len(job_ids))
            for job_id in job_ids:
                self._untrack(job_id)

    def _track_deadline(self, job: Job) -> None:
        timeout = job.request.timeout_seconds or self.settings.default_timeout_s
        with self._lock:
            self._deadlines[job.id] = job.created_at + timeout

    def _untrack(self, job_id: str) -> None:
        with self._lock:
            self._deadlines.pop(job_id, None)

    def refresh_backends(self) -> None:
        """Set ``eigen_backend_available`` from the driver-manager's device status."""
        try:
            names = [device.name for device in self.drivers.list_devices()]
        except Exception as exc:  # e.g. the driver-manager is not reachable
            log.warning("cannot list backends", extra={"error": str(exc)})
            with self._lock:
                names = list(self._devices)
            for name in names:
                metrics.backend_available(name, False)
            return
        for name in names:
            try:
                online = self.drivers.device_status(name) is DeviceStatus.ONLINE
            except Exception:
                online = False
            metrics.backend_available(name, online)

    def _backends_loop(self) -> None:
        while True:
            self.refresh_backends()
            if self._stopping.wait(self.settings.backend_refresh_s):
                return

    def _watchdog_loop(self) -> None:
        while not self._stopping.wait(self.settings.watchdog_interval_s):
            now = time.time()
            with self._lock:
                expired = [job_id for job_id, deadline in self._deadlines.items() if deadline <= now]
            for job_id in expired:
                self._untrack(job_id)
                try:
                    job = self.store.get(job_id)
                    if job is None or job.terminal:
                        continue
                    self.pipeline.time_out(job)
                except BaseException as exc:  # e.g. the store failed: the next round goes on
                    if must_escape(exc):
                        raise
                    log.error("timing out a job failed", extra={"job_id": job_id, "error": describe(exc)})
