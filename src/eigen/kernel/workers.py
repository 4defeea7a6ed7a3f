"""The kernel's worker threads and their supervisor.

Compile workers and execute workers ``claim`` entries from the
:class:`~eigen.kernel.dispatch.port.Dispatch` port, run the pipeline's stage on their jobs
and ``ack`` them (a drain gives claimed entries back with ``release``). Other loops (the
watchdog, the heartbeat, the backend refresh) are spawned here too, so that the supervisor
watches them all.

Workers survive whatever a job does: each loop catches every failure but the
interpreter's own signals (:mod:`eigen.models.panics`) and ends the jobs it held in
ERROR. A worker thread that ends anyway is replaced by the supervisor thread, which also
puts jobs stranded by a full or unwritable data folder back on the queue once the folder
can be written again; :meth:`Workers.problems` (readiness) names both conditions.

A queue that cannot be reached (its database restarting) is not a worker's failure: the
stage workers find nothing to claim meanwhile, and :meth:`Workers.problems` names the queue
until a claim succeeds again (the dispatch reconnects on its own at the next claim).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence

from eigen.errors import EigenError, Unavailable
from eigen.kernel.dispatch.port import Claimed, Dispatch, Entry, Stage
from eigen.kernel.handoff import Handoff
from eigen.kernel.pipeline import Pipeline
from eigen.kernel.qfs.health import DataHealth, storage_error
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job
from eigen.models.panics import describe, must_escape
from eigen.observability import metrics

log = logging.getLogger(__name__)

# jobs compiled per batch (their moves share transactions); more wait for the next batch
COMPILE_BATCH = 32
EXECUTE_BATCH = 16  # small circuits executed per batch (see Pipeline.batchable)
MAX_STRANDED = 3  # times a job may wait for a writable data folder before it ends in ERROR
CLAIM_WAIT_S = 0.5  # how long a claim waits before the worker looks at the drain again
STAGE_ROLES = ("compile", "execute", "session")
SESSION_WORKERS = 1  # the session lane: runs sessions' jobs, and nothing else


class Workers:
    def __init__(
        self,
        pipeline: Pipeline,
        store: JobStore,
        dispatch: Dispatch,
        data: DataHealth,
        accepted: Handoff[Job],
        resume: Callable[[Job, str], None],
        *,
        supervise_interval_s: float = 0.5,
        stopping: threading.Event,
        draining: threading.Event,
        supervise: Callable[[], None] | None = None,
        sessions_ran: Callable[[Sequence[str]], None] | None = None,
    ) -> None:
        """``accepted``: jobs as stored by this process's submissions (the compile stage's
        quick path); ``resume``: puts an unfinished job back on its queue (a stranded job
        once the data folder can be written); ``supervise``: what the supervisor thread runs
        each round (default :meth:`supervise`; the kernel's, which a test may hold back);
        ``sessions_ran``: told the sessions whose jobs the session lane starts and ends
        (:meth:`eigen.kernel.sessions.Sessions.ran`: their devices stay held)."""
        self.pipeline = pipeline
        self.store = store
        self.dispatch = dispatch
        self.data = data
        self.accepted = accepted
        self.resume = resume
        self.supervise_interval_s = supervise_interval_s
        self.stopping = stopping
        self.draining = draining
        self._round = supervise or self.supervise
        self._sessions_ran = sessions_ran or (lambda _: None)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # workers by thread name: their loop, and what each holds (to end if it dies)
        self._workers: dict[str, tuple[Callable[[], None], threading.Thread]] = {}
        self._in_hand: dict[str, list[str]] = {}
        self._claimed: dict[str, list[Claimed]] = {}  # the queue entries of what each holds
        self._dead: dict[str, str] = {}  # thread name -> why it ended, until replaced
        # jobs that could not be written, in order: the problem, and how often it came back
        self._stranded: dict[str, tuple[EigenError, int]] = {}
        self._strand_counts: dict[str, int] = {}  # by job, until it ends
        self._queue_down: str | None = None  # why the last claim could not reach the queue

    # -- threads -------------------------------------------------------------------------
    def start(
        self, compile_workers: int, execute_workers: int, others: Sequence[tuple[str, Callable[[], None]]]
    ) -> None:
        """Start the stage workers, the ``others`` loops (by role name) and the supervisor."""
        loops: list[tuple[str, Callable[[], None]]] = [
            *[("compile", self.compile_loop)] * compile_workers,
            *[("execute", self.execute_loop)] * execute_workers,
            *[("session", functools.partial(self.execute_loop, Stage.SESSION))] * SESSION_WORKERS,
            *others,
        ]
        for index, (name, target) in enumerate(loops):
            self.spawn(f"eigen-{name}-{index}", target)
        supervisor = threading.Thread(target=self._supervise_loop, name="eigen-supervisor", daemon=True)
        supervisor.start()
        with self._lock:
            self._threads.append(supervisor)

    def spawn(self, name: str, target: Callable[[], None]) -> None:
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

    def held(self) -> list[str]:
        """The jobs the workers hold now (whose leases the heartbeat renews)."""
        with self._lock:
            return [job_id for job_ids in self._in_hand.values() for job_id in job_ids]

    def claimed(self) -> list[Claimed]:
        """The queue entries the workers hold now (kept alive by the heartbeat)."""
        with self._lock:
            return [item for items in self._claimed.values() for item in items]

    def join_stages(self, grace_s: float) -> bool:
        """Wait up to ``grace_s`` for the stage workers to end (a drain); whether they did."""
        with self._lock:
            workers = [t for t in self._threads if t.name.split("-")[1] in STAGE_ROLES]
        deadline = time.monotonic() + grace_s
        for thread in workers:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in workers)

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` for every thread to end (after the stop was set)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._threads.clear()

    # -- supervision ---------------------------------------------------------------------
    def supervise(self) -> None:
        """Replace worker threads that ended (not by a stop or a drain), ending the jobs
        they held in ERROR; put stranded jobs back on the queue once the data folder can
        be written again. Runs on the supervisor thread; callable directly (tests)."""
        if self.stopping.is_set():
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
            if self.draining.is_set() and role in STAGE_ROLES:
                continue  # ended by the drain
            with self._lock:
                reason = self._dead.setdefault(name, "the thread ended")
                held = self._in_hand.pop(name, [])
                entries = self._claimed.pop(name, [])
            log.error("replacing a dead worker", extra={"worker": name, "error": reason, "jobs": len(held)})
            for job_id in held:
                self._abandon(job_id, f"internal error: the worker running this job died ({reason})")
            self._ack(name, entries)  # their jobs ended: the entries, and their devices' slots, go
            self.spawn(name, target)
            with self._lock:
                self._dead.pop(name, None)
        self._resume_stranded()

    def _supervise_loop(self) -> None:
        while not self.stopping.wait(self.supervise_interval_s):
            try:
                self._round()
            except BaseException as exc:
                if must_escape(exc):
                    raise
                log.exception("supervising the workers failed")

    def problems(self) -> list[str]:
        """Dead workers not yet replaced, and a queue that cannot be reached (readiness)."""
        with self._lock:
            found = [f"worker {name} died ({reason})" for name, reason in sorted(self._dead.items())]
            return [*found, self._queue_down] if self._queue_down is not None else found

    # -- stranded jobs -------------------------------------------------------------------
    def strand(self, job_id: str, problem: EigenError) -> None:
        """A job whose files or state could not be written (the data folder is full or
        unwritable): kept here until :meth:`supervise` finds the folder writable again.
        A job stranded ``MAX_STRANDED`` times (e.g. its results alone do not fit in the
        space there is) ends in ERROR with the problem instead of going round again."""
        with self._lock:
            times = self._strand_counts.get(job_id, 0) + 1
            self._strand_counts[job_id] = times
            self._stranded[job_id] = (problem, times)
        log.warning("job waits for the data folder to be writable", extra={"job_id": job_id})

    def ended(self, job_id: str) -> None:
        """The job ended: forget how often it was stranded."""
        if self._strand_counts:
            with self._lock:
                self._strand_counts.pop(job_id, None)

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
                    self.resume(job, "requeued: the data folder can be written again")
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
                self.strand(job_id, problem)
            else:
                log.exception("ending an abandoned job failed", extra={"job_id": job_id})

    # -- the stage loops -----------------------------------------------------------------
    def compile_loop(self) -> None:
        name = threading.current_thread().name
        while not self.draining.is_set():
            claimed = self._claim(Stage.COMPILE, COMPILE_BATCH, lambda _: True)
            if not claimed:
                if self.stopping.is_set():
                    return
                continue
            if self.draining.is_set():  # left PENDING for the next start
                self.dispatch.release(claimed)
                return
            self._hold(name, claimed, functools.partial(self._compile, claimed))

    def execute_loop(self, stage: Stage = Stage.EXECUTE) -> None:
        """Run the jobs of ``stage``'s queue: the devices' (EXECUTE), or the sessions' lane
        (SESSION: a worker of its own, so a session's next job never waits for another
        job's run)."""
        name = threading.current_thread().name
        while not self.draining.is_set():
            claimed = self._claim(stage, EXECUTE_BATCH, self.pipeline.batchable)
            if not claimed:
                if self.stopping.is_set():
                    return
                continue
            if self.draining.is_set():  # left QUEUED: the next start runs them
                self.dispatch.release(claimed)
                return
            job_ids = [c.job_id for c in claimed]
            run = functools.partial(self.pipeline.execute, job_ids)
            if stage is Stage.SESSION:
                run = functools.partial(self._run_in_sessions, claimed, run)
            metrics.JOBS_RUNNING.inc(len(job_ids))
            try:
                self._hold(name, claimed, run)
            finally:
                metrics.JOBS_RUNNING.dec(len(job_ids))
            for job_id in job_ids:
                self.pipeline.timeouts.untrack(job_id)

    def _run_in_sessions(self, claimed: Sequence[Claimed], run: Callable[[], None]) -> None:
        """``run`` the session lane's jobs, telling their sessions before and after (before
        the entries are acked, so that their devices stay held in between)."""
        sessions = [item.entry.session for item in claimed]
        self._sessions_ran(sessions)
        try:
            run()
        finally:
            self._sessions_ran(sessions)

    def _claim(self, stage: Stage, limit: int, together: Callable[[Entry], bool]) -> list[Claimed]:
        """``dispatch.claim``, waiting up to ``CLAIM_WAIT_S``; nothing (after that wait)
        while the queue cannot be reached, which is logged once and named by
        :meth:`problems` until a claim succeeds again."""
        try:
            claimed = self.dispatch.claim(stage, limit, CLAIM_WAIT_S, together)
        except Unavailable as exc:
            with self._lock:
                first, self._queue_down = self._queue_down is None, exc.message
            if first:
                log.warning("the job queue cannot be reached: workers wait", extra={"error": exc.message})
            self.draining.wait(CLAIM_WAIT_S)  # as long as a claim that found nothing
            return []
        if self._queue_down is not None:
            with self._lock:
                was, self._queue_down = self._queue_down, None
            if was is not None:
                log.info("the job queue answers again")
        return claimed

    def _compile(self, claimed: Sequence[Claimed]) -> None:
        """Compile the jobs of claimed entries: as this process stored them, else as stored."""
        jobs: list[Job] = []
        for item in claimed:
            job = self.accepted.take(item.job_id) or self.store.get(item.job_id)
            if job is not None:
                jobs.append(job)
        self.pipeline.compile(jobs)

    def _hold(self, name: str, claimed: list[Claimed], work: Callable[[], None]) -> None:
        """Run a worker's ``work`` on the jobs of ``claimed``, then ``ack`` the entries; a
        failure outside the stages (which end their own jobs) ends the jobs still
        unfinished in ERROR and the worker goes on."""
        job_ids = [item.job_id for item in claimed]
        with self._lock:
            self._in_hand[name] = job_ids
            self._claimed[name] = claimed
        try:
            work()
        except BaseException as exc:
            if must_escape(exc):
                raise
            log.error("a worker's batch failed", extra={"worker": name, "error": describe(exc)}, exc_info=exc)
            for job_id in job_ids:
                self._abandon(job_id, f"internal error: {describe(exc)}")
        self._ack(name, claimed)
        with self._lock:
            self._in_hand.pop(name, None)
            self._claimed.pop(name, None)

    def _ack(self, name: str, claimed: Sequence[Claimed]) -> None:
        """``dispatch.ack``; a failure is logged (the entry comes back; the job's state decides then)."""
        try:
            self.dispatch.ack(claimed)
        except BaseException as exc:
            if must_escape(exc):
                raise
            log.warning("acknowledging queue entries failed", extra={"worker": name, "error": describe(exc)})
