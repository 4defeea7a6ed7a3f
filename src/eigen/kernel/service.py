"""eigen-kernel (QRTX): accepts jobs, runs the pipeline on worker threads, serves state,
events and results, enforces timeouts, and resumes unfinished work after a restart.

:class:`Kernel` is the facade behind the KernelPort; each concept is a module of its own:
taking jobs in (:mod:`eigen.kernel.submission`), the queues between the stages
(:mod:`eigen.kernel.dispatch`), the stages (:mod:`eigen.kernel.pipeline`), the threads
that run them and their supervisor (:mod:`eigen.kernel.workers`), every time limit
(:mod:`eigen.kernel.timeouts`), a worker's claim on a job (:mod:`eigen.kernel.leases`),
what a restart or a lapsed lease resumes (:mod:`eigen.kernel.recovery`), the devices
(:mod:`eigen.kernel.devices`) and following a job (:mod:`eigen.kernel.watch`). The
periodic work one node does for a cluster (the lease sweep, the store's overdue jobs,
result retention, pruning the queue's log) runs as singleton duties (:mod:`eigen.kernel.duties`).

Shutdown is two steps: :meth:`Kernel.drain` stops taking work (submissions are refused,
nothing new is compiled or started) and gives running jobs a grace period to finish;
:meth:`Kernel.stop` then ends the workers. Whatever did not finish stays in the store
(PENDING, QUEUED, or RUNNING with its hybrid checkpoint) and the next start resumes it.

Every job belongs to the tenant it was submitted for (``tenant``, data handed in by the
api role), and a submission is held to that tenant's ``quota`` before anything is stored
(:mod:`eigen.kernel.quotas`). Who may see which tenant's jobs is the service layer's
decision; the kernel only refuses to read another tenant's job by reference.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from eigen.errors import EigenError, FailedPrecondition
from eigen.kernel.dead_letters import list_dead_letters
from eigen.kernel.devices import Devices
from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Dispatch
from eigen.kernel.duties import Duties
from eigen.kernel.events import EventBus
from eigen.kernel.fanout.port import Fanout
from eigen.kernel.handoff import Handoff
from eigen.kernel.kernel_settings import KernelSettings, default_node_id
from eigen.kernel.leases import Leases
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.pipeline import Pipeline
from eigen.kernel.placement import Placements
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.qfs.health import DataHealth
from eigen.kernel.queueing import Queueing
from eigen.kernel.recovery import Recovery, sweep_every_s
from eigen.kernel.run_times import COMPILE_DEFAULT_S, RunTimes
from eigen.kernel.sessions import SESSION_SWEEP_S, Sessions
from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.retention import (
    QUEUE_LOG_PRUNE_EVERY_S,
    QueueLog,
    check_results_ready,
    load_result,
    prune_queue_log,
    stored_job,
)
from eigen.kernel.store.sessions import MemorySessionStore, SessionStore
from eigen.kernel.submission import Submission, writing
from eigen.kernel.timeouts import Timeouts
from eigen.kernel.watch import Watching
from eigen.kernel.workers import Workers
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.session import Session
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.observability import metrics
from eigen.observability.tracing import traced_port

log = logging.getLogger(__name__)

# Port calls that get a span of their own (cheap look-ups such as ``device`` do not).
COMPILER_SPANS = frozenset({"compile", "validate", "optimize"})
DRIVER_SPANS = frozenset({"execute", "execute_many", "estimate", "calibrate"})
OVERDUE_SCAN_S = 5.0  # how often the store is scanned for overdue jobs nobody tracks


def _run(duty: Callable[[], object]) -> None:
    """Run a duty for its effect (what it counts is for its tests)."""
    duty()


class Kernel:
    def __init__(
        self,
        store: JobStore,
        artifacts: ArtifactStore,
        compiler: CompilerPort,
        drivers: DriverPort,
        settings: KernelSettings | None = None,
        *,
        dispatch: Dispatch | None = None,
        fanout: Fanout | None = None,
        duties: Duties | None = None,
        sessions: SessionStore | None = None,
    ) -> None:
        """``dispatch``: the queues between the stages (default in memory: this kernel is
        the store's only one); ``fanout``: carries job events between nodes (None: this
        process's only); ``duties``: runs the cluster's singleton duties (default: always
        held, one kernel per store)."""
        self.settings = settings = settings or KernelSettings()
        self.node_id = settings.node_id or default_node_id()
        self.store = store
        self.drivers = traced_port(drivers, "driver-manager", DRIVER_SPANS)
        self.compiler = traced_port(compiler, "compiler", COMPILER_SPANS)
        self.bus = EventBus(fanout)
        self.lifecycle = Lifecycle(store, self.bus)
        self.dispatch: Dispatch = dispatch or MemoryDispatch(settings.queue_capacity)
        self.queueing = Queueing(self.dispatch)
        self.duties = duties or Duties(None, lease_s=settings.lease_s, node=self.node_id)
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._stopped = False
        self._lock = threading.Lock()
        self.devices = Devices(self.drivers, settings.backend_refresh_s, self._stopping)
        self.data = DataHealth(artifacts.root)
        self.timeouts = Timeouts(
            self.lifecycle,
            default_timeout_s=settings.default_timeout_s,
            compile_timeout_s=settings.compile_timeout_s,
            interval_s=settings.watchdog_interval_s,
            stopping=self._stopping,
        )
        self.leases = Leases(store, self.node_id, settings.lease_s, stopping=self._stopping)
        self.run_times = self.dispatch.order.run_times or RunTimes(self.dispatch.order.cost_s)
        compile_times = RunTimes(COMPILE_DEFAULT_S)
        self.placements = Placements(
            self.dispatch,
            compile_workers=settings.compile_workers,
            execute_workers=settings.execute_workers,
            run_times=self.run_times,
            compile_times=compile_times,
        )
        self.pipeline = Pipeline(
            self.lifecycle,
            self.compiler,
            self.drivers,
            artifacts,
            self.queueing,
            self.device,
            self.timeouts,
            self._stopping,
            data=self.data,
            strand=lambda job_id, problem: self.workers.strand(job_id, problem),
            claim=self.leases.claim,
            run_times=self.run_times,
            compile_times=compile_times,
        )
        self._accepted: Handoff[Job] = Handoff(settings.queue_capacity)
        self.sessions = Sessions(
            sessions or MemorySessionStore(), store, self._cancel_for, hold_s=settings.session_hold_s
        )
        self.dispatch.holds = self.sessions.holds
        self.submission = Submission(
            self.lifecycle,
            self.compiler,
            artifacts,
            self.data,
            device=self.device,
            known_device=self.devices.known,
            queueing=self.queueing,
            accepted=self._accept,
            draining=self._draining,
            queue_capacity=settings.queue_capacity,
            queue_full_retry_s=settings.queue_full_retry_s,
            default_timeout_s=settings.default_timeout_s,
            memory_limit=settings.worker_memory_bytes,
            sessions=self.sessions.admitted,
        )
        self._intake = self.submission.intake
        # the KernelPort's submissions: the submission's own methods (see Submission)
        self.submit = self.submission.submit
        self.submit_async = self.submission.submit_async
        self.submit_batch = self.submission.submit_batch
        self.validate = self.submission.validate
        self.recovery = Recovery(
            self.lifecycle,
            self.queueing,
            resumed=self._resumed,
            max_attempts=settings.max_attempts,
            shared=settings.shared_store,
        )
        self.workers = Workers(
            self.pipeline,
            store,
            self.dispatch,
            self.data,
            self._accepted,
            self.recovery.resume,
            supervise_interval_s=settings.supervise_interval_s,
            stopping=self._stopping,
            draining=self._draining,
            supervise=lambda: self.supervise(),
            sessions_ran=self.sessions.ran,
        )
        self.leases.held = self.workers.held
        self.leases.beat = lambda: self.dispatch.heartbeat(self.workers.claimed())
        self.watching = Watching(self.bus, store, self._stopping)
        self.lifecycle.on_state = self._on_state

    # -- lifecycle of the kernel itself --------------------------------------------------
    def start(self) -> None:
        self.recovery.recover()
        self.bus.start()
        self._intake.start()
        metrics.track_queue(self, self.queue_depth, self.settings.queue_capacity)
        others: list[tuple[str, Callable[[], None]]] = [
            ("watchdog", self.timeouts.loop),
            ("heartbeat", self.leases.loop),
        ]
        if self.settings.backend_refresh_s > 0:
            others.append(("backends", self.devices.loop))
        self.workers.start(self.settings.compile_workers, self.settings.execute_workers, others)
        if self.settings.shared_store:  # alone on the store, the start recovered everything
            self.duties.register(  # after an outage, a lease for the live holders to renew first
                "lease-sweep",
                sweep_every_s(self.settings.lease_s),
                lambda: _run(self.recovery.sweep),
                settle_s=self.settings.lease_s,
            )
        self.duties.register("overdue-jobs", OVERDUE_SCAN_S, lambda: _run(self.timeouts.scan))
        self.duties.register("session-expiry", SESSION_SWEEP_S, lambda: _run(self.sessions.sweep))
        if isinstance(self.dispatch, QueueLog):  # pgqueuer's log: a day kept (store.retention)
            queue_log = self.dispatch
            self.duties.register(
                "queue-log-retention",
                QUEUE_LOG_PRUNE_EVERY_S,
                lambda: _run(lambda: prune_queue_log(queue_log)),
            )
        self.duties.start()

    def supervise(self) -> None:
        """Replace dead workers and resume stranded jobs (:meth:`Workers.supervise`)."""
        self.workers.supervise()

    def problems(self) -> list[str]:
        """What keeps this kernel from serving (readiness): dead workers not yet replaced,
        and a data folder that cannot be written (probed again, at most once a second)."""
        found = self.workers.problems()
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
            log.info("kernel draining", extra={"grace_s": grace_s})
        drained = self.workers.join_stages(grace_s)
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
            self._draining.set()
        self._intake.stop(timeout)
        self._stopping.set()
        self.duties.stop(timeout)
        self.dispatch.close()
        self.bus.close()
        self.workers.join(timeout)
        metrics.untrack_queue(self)

    def _accept(self, jobs: list[Job]) -> None:
        """Jobs a submission just stored (their compile entries with them): the jobs as
        stored are at hand for the compile stage, their deadlines watched."""
        for job in jobs:
            self._accepted.put(job.id, job)
            self.timeouts.track(job)

    def _resumed(self, job: Job) -> None:
        """A job put back on its queue (a restart, a lapsed lease, a stranded job)."""
        self.timeouts.track(job)
        self.submission.wait([job.id])

    def _on_state(self, event: JobEvent) -> None:
        self.submission.left_waiting(event)
        if event.state.terminal:
            self.workers.ended(event.job_id)
            self.timeouts.untrack(event.job_id)

    # -- the KernelPort: jobs --------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """The job; one that waits on a queue with its placement there."""
        job = stored_job(self.store.get(job_id), job_id)
        placement = self.placements.of(job)
        return job if placement is None else dataclasses.replace(job, placement=placement)

    def list_jobs(self, query: JobFilter) -> list[Job]:
        return self.store.list_jobs(query)

    def dead_letters(
        self, tenant: str | None, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetter]:
        return list_dead_letters(self.store, tenant, limit, before)

    def _cancel_for(self, job_id: str, reason: str) -> None:
        """Cancel a job that has not ended, saying why (a session's end)."""
        with writing(self.data):
            self.lifecycle.move(job_id, JobState.CANCELLED, reason)

    # -- the KernelPort: sessions ------------------------------------------------------------
    def open_session(
        self, tenant: str, owner: str, target: str, max_time_s: float | None, idle_s: float | None
    ) -> Session:
        self.device(target)  # an unknown target is NOT_FOUND, as for a job
        return self.sessions.open(tenant, owner, target, max_time_s, idle_s)

    def get_session(self, session_id: str, tenant: str | None) -> Session:
        return self.sessions.get(session_id, tenant)

    def close_session(self, session_id: str, tenant: str | None) -> Session:
        return self.sessions.close(session_id, tenant)

    def cancel_session(self, session_id: str, tenant: str | None) -> Session:
        return self.sessions.cancel(session_id, tenant)

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state is JobState.CANCELLED:
            return job
        with writing(self.data):
            moved = self.lifecycle.move(job_id, JobState.CANCELLED, "cancelled by request")
        if moved is None:
            job = self.get(job_id)
            if job.state is JobState.CANCELLED:
                return job
            raise FailedPrecondition(f"job {job_id} already ended in {job.state.value}")
        return moved

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        """Events of a job after ``after_seq``, live, until its terminal event."""
        return self.watching.watch(job_id, after_seq, active)

    def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        """:meth:`watch` for asyncio callers (waits on the event loop, not a thread)."""
        return self.watching.watch_async(job_id, after_seq)

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        """Wait on the event loop until the job has ended (True) or ``timeout_s`` has passed."""
        return await self.watching.wait_async(job_id, timeout_s)

    def results(self, job_id: str) -> JobResult:
        final = self.bus.final(job_id)
        if final is not None and final.state is JobState.DONE:  # ended here: no need to read the job
            return load_result(self.store, job_id)
        check_results_ready(self.get(job_id))
        return load_result(self.store, job_id)  # FAILED_PRECONDITION once results expired

    # -- the KernelPort: devices -----------------------------------------------------------
    def device(self, name: str) -> DeviceInfo:
        return self.devices.device(name)

    def list_devices(self) -> list[DeviceInfo]:
        return self.drivers.list_devices()

    def calibration(self, name: str) -> Calibration:
        return self.drivers.calibrate(name)

    def queue_depth(self) -> int:
        return self.dispatch.depth()

    def refresh_backends(self) -> None:
        """Set ``eigen_backend_available`` now (:meth:`Devices.refresh`)."""
        self.devices.refresh()
