"""What a kernel resumes: unfinished jobs whose worker is gone.

A kernel alone on its store (memory dispatch: one kernel per data folder, which the
folder's lock guarantees) resumes every unfinished job when it starts: PENDING and
COMPILING ones are compiled again, QUEUED ones re-queued, RUNNING ones (a lease nobody
renews any more) run again. A kernel sharing its store with others (a cluster) touches
only jobs whose lease lapsed: the lease sweep (:meth:`Recovery.sweep`, a singleton duty
of :mod:`eigen.kernel.duties`) puts them back, RUNNING -> QUEUED and COMPILING ->
PENDING, each with its queue entry in the same transaction. A lost compile counts an
attempt (``attempt`` + 1 on its way back; a run counts one when it is claimed), so a
job's ``attempt`` is its runs plus its lost compiles. The worker that lost the lease may
still be working; its outcome is fenced off (:mod:`eigen.kernel.lifecycle`).

A job that lost its worker ``max_attempts`` times (its runs, and its lost compiles) is
given up on instead: it ends in ERROR (``EIGEN_MAX_ATTEMPTS``) with a dead letter
(:meth:`~eigen.kernel.store.base.JobStore.add_dead_letter`) written in the same
transaction. A job that crashes whatever runs it (the process, not just the stage) so
ends after that many restarts instead of taking every kernel down in turn.

A job waiting for its dependencies (:mod:`eigen.kernel.dependencies`) has no queue entry:
at start, every kernel (alone or sharing the store) settles the waiting jobs, so one whose
dependencies all ended while no kernel was there to see it is released or failed, not left
waiting for ever.

After a database outage the sweep waits one lease before it judges any lease (it runs as
a duty with ``settle_s``: :mod:`eigen.kernel.duties`): the holders could not heartbeat
while the database was down, and renew the leases that lapsed meanwhile once it answers
(:mod:`eigen.kernel.leases`); a worker that finished a job during the outage stores its
outcome then (:mod:`eigen.kernel.pipeline`). Only the jobs of holders that are really gone
are put back, a lease later than without the outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from eigen.errors import Unavailable
from eigen.kernel.dependencies import Dependencies, is_waiting
from eigen.kernel.dispatch.port import Stage
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.queueing import Queueing
from eigen.models.job import Job
from eigen.models.panics import describe, must_escape
from eigen.models.state import JobState

log = logging.getLogger(__name__)

UNFINISHED = (JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING)
MAX_ATTEMPTS_CODE = "EIGEN_MAX_ATTEMPTS"
SWEEP_LIMIT = 100  # expired leases taken per sweep; the next sweep takes the rest
SWEEP_EVERY_MAX_S = 0.5
CLEARED = {"worker_id": None, "lease_expires_at": None}  # a job put back is nobody's


def sweep_every_s(lease_s: float) -> float:
    """How often the lease sweep runs: a quarter lease, at most ``SWEEP_EVERY_MAX_S``, so an
    orphaned job is back in the queue within about half a second of its lease lapsing (the
    sweep is one read of a partial index of the jobs in play)."""
    return min(lease_s / 4, SWEEP_EVERY_MAX_S)


def stage_of(job: Job) -> Stage:
    """The queue an unfinished job waits on."""
    return Stage.COMPILE if job.state in (JobState.PENDING, JobState.COMPILING) else Stage.EXECUTE


class Recovery:
    def __init__(
        self,
        lifecycle: Lifecycle,
        queueing: Queueing,
        *,
        resumed: Callable[[Job], None] = lambda job: None,
        max_attempts: int = 3,
        shared: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``resumed``: told of each job put back (the kernel watches its deadline and
        counts it as waiting); ``shared``: other kernels use the store."""
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.queueing = queueing
        self.resumed = resumed
        self.max_attempts = max_attempts
        self.shared = shared
        self.clock = clock
        self.dependencies = Dependencies(lifecycle, queueing)

    def recover(self) -> None:
        """At start: resume what a previous run left (alone on the store: everything
        unfinished, a RUNNING job counting as one whose lease lapsed; sharing it: nothing
        here, the lease sweep takes expired leases)."""
        if self.shared:
            self.settle_waiting()
            return
        for job in self.store.in_states(UNFINISHED):
            if is_waiting(job):
                self.resumed(job)
                self.dependencies.settle(job.id)
                continue
            if job.state is JobState.RUNNING and self._used_up(job) is not None:
                self.give_up(job)
                continue
            self.resume(job, "requeued after a restart")
            log.info("resumed job", extra={"job_id": job.id, "state": job.state.value})

    def settle_waiting(self) -> None:
        """Settle every job waiting for its dependencies (see the module docstring)."""
        for job in self.store.in_states((JobState.PENDING,)):
            if is_waiting(job):
                self.resumed(job)
                self.dependencies.settle(job.id)

    def sweep(self) -> int:
        """Put back (or give up on) the jobs whose lease lapsed; how many were found."""
        now = self.clock()
        expired = self.store.expired_leases(now, limit=SWEEP_LIMIT)
        for job in expired:
            try:
                if self._used_up(job) is not None:
                    self.give_up(job, lease_before=now)
                else:
                    self.resume(job, f"requeued: the lease of {job.worker_id} lapsed", lease_before=now)
                    log.warning(
                        "job put back: its worker's lease lapsed",
                        extra={"job_id": job.id, "worker": job.worker_id, "state": job.state.value},
                    )
            except BaseException as exc:  # one job's failure must not stop the sweep
                if must_escape(exc) or isinstance(exc, Unavailable):
                    raise  # (an unreachable database stops it: see the module docstring)
                log.error(
                    "sweeping an expired lease failed", extra={"job_id": job.id, "error": describe(exc)}
                )
        return len(expired)

    def resume(self, job: Job, message: str, *, lease_before: float | None = None) -> None:
        """Put an unfinished job back where its state says: RUNNING moves to QUEUED (to
        run again) and, by the lease sweep, COMPILING to PENDING (a lost compile, which
        counts an attempt), with their queue entries in the move's transaction; the others
        are queued again as they are (a kernel alone on its store compiles a COMPILING
        job again where it stands: no other worker can hold it)."""
        stage = stage_of(job)
        back: JobState | None = None
        changes: dict[str, Any] = {}
        if job.state is JobState.RUNNING:
            back, changes = JobState.QUEUED, dict(CLEARED)
        elif job.state is JobState.COMPILING and lease_before is not None:
            back, changes = JobState.PENDING, {**CLEARED, "attempt": job.attempt + 1}
        self.resumed(job)
        if back is None:
            self.queueing.now(stage, [job])
            return
        moved = self.lifecycle.move(
            job.id,
            back,
            message,
            then=self.queueing.within(stage, [job]),
            lease_before=lease_before,
            **changes,
        )
        if moved is not None:
            self.queueing.after(stage, [moved])

    def give_up(self, job: Job, *, lease_before: float | None = None) -> None:
        """End ``job`` in ERROR with its dead letter: it lost its worker too often."""
        attempts = self._used_up(job) or job.attempt
        worker = job.worker_id or "a worker"
        summary = (
            f"gave up after {attempts} attempts (max_attempts {self.max_attempts}): each lost its "
            f"worker before the job ended (last {worker}, in {job.state.value})"
        )
        error: dict[str, Any] = {"error_code": MAX_ATTEMPTS_CODE, "error_summary": summary}

        def dead_letter(txn: object) -> None:
            self.store.add_dead_letter(job.id, attempts, summary, job.worker_id, within=txn)

        moved = self.lifecycle.move(
            job.id, JobState.ERROR, summary, data=error, then=dead_letter, lease_before=lease_before, **error
        )
        if moved is not None:
            log.error("job given up on", extra={"job_id": job.id, "attempts": attempts, "worker": worker})

    def _used_up(self, job: Job) -> int | None:
        """The attempts a job whose worker vanished has used, when that is all it has
        (None: it may go round again). A RUNNING job's ``attempt`` counts this run; a
        COMPILING one's does not count this lost compile yet."""
        used = job.attempt if job.state is JobState.RUNNING else job.attempt + 1
        return used if used >= self.max_attempts else None
