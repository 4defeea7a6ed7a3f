"""Result retention: results older than the configured age expire; their jobs stay.

``eigen-server gc`` runs :func:`expire_old_results` once; a server runs it periodically
with :class:`RetentionSweeper`. Reading the result of an expired job raises
``FailedPrecondition("... results expired ...")`` (:func:`load_result`).

The queue's log (pgqueuer logs each entry queued, picked and done; nothing in Eigen reads
it) is kept ``QUEUE_LOG_KEEP_S`` whether or not results expire: a kernel whose dispatch
keeps one prunes it as a singleton duty (:func:`prune_queue_log`), so the table holds a
day of entries rather than growing by a few rows per job forever.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from eigen.errors import FailedPrecondition, NotFound
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job
from eigen.models.result import JobResult
from eigen.models.state import JobState

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0
QUEUE_LOG_KEEP_S = SECONDS_PER_DAY  # the queue log's rows are kept this long (a day to look back on)
QUEUE_LOG_PRUNE_EVERY_S = 3600.0  # how often the duty prunes it


@runtime_checkable
class QueueLog(Protocol):
    """A dispatch that logs its entries (pgqueuer's log table) and can delete old rows."""

    def prune_log(self, older_than_s: float) -> int:
        """Delete the log rows older than ``older_than_s``; how many."""
        ...


def retention_cutoff(retention_days: float | None, now: float) -> float | None:
    """Epoch seconds before which results expire; None when retention is off (None or 0)."""
    if not retention_days or retention_days <= 0:
        return None
    return now - retention_days * SECONDS_PER_DAY


def expire_old_results(store: JobStore, retention_days: float | None, now: float | None = None) -> int:
    """Expire the results older than ``retention_days``; returns how many expired."""
    cutoff = retention_cutoff(retention_days, time.time() if now is None else now)
    if cutoff is None:
        return 0
    expired = store.expire_results(cutoff)
    if expired:
        log.info("expired job results", extra={"count": expired, "saved_before": cutoff})
    return expired


def prune_queue_log(queue: QueueLog, keep_s: float = QUEUE_LOG_KEEP_S) -> int:
    """Delete the queue log's rows older than ``keep_s``; how many (idempotent: two nodes
    running it at once delete each row once)."""
    if keep_s <= 0:
        raise ValueError("keep_s must be positive")
    pruned = queue.prune_log(keep_s)
    if pruned:
        log.info("pruned the queue log", extra={"count": pruned, "older_than_s": keep_s})
    return pruned


def stored_job(job: Job | None, job_id: str) -> Job:
    """``job`` as a store returned it for ``job_id``, or NOT_FOUND (one message for the
    kernel and the CLI's read-only view of a data folder)."""
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def check_results_ready(job: Job) -> None:
    """FAILED_PRECONDITION unless ``job`` ended DONE (its results are then stored)."""
    if not job.terminal:
        raise FailedPrecondition(f"job {job.id} is {job.state.value}; results are available once it is DONE")
    if job.state is not JobState.DONE:
        raise FailedPrecondition(
            f"job {job.id} ended in {job.state.value}: {job.error_summary or 'no results'}"
        )


def load_result(store: JobStore, job_id: str) -> JobResult:
    """The stored result of a job, or the error to answer GetJobResults with."""
    result = store.result(job_id)
    if result is not None:
        return result
    expired_at = store.result_expired_at(job_id)
    if expired_at is not None:
        when = datetime.fromtimestamp(expired_at, UTC).isoformat(timespec="seconds")
        raise FailedPrecondition(f"job {job_id}: results expired (removed by retention at {when})")
    raise NotFound(f"job {job_id} has no stored results")


class RetentionSweeper:
    """Runs :func:`expire_old_results` every ``interval_s`` on a daemon thread.

    The first sweep runs at start. Errors are logged and the next sweep tries again.
    Expiry is idempotent, so several kernels sharing one PostgreSQL may each run one.
    """

    def __init__(self, store: JobStore, retention_days: float | None, interval_s: float = 3600.0) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.store = store
        self.retention_days = retention_days
        self.interval_s = interval_s
        self.sweeps = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> RetentionSweeper:
        if retention_cutoff(self.retention_days, 0.0) is None:
            log.info("result retention is off: results are kept forever")
            return self
        self._thread = threading.Thread(target=self._loop, name="eigen-retention", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sweep(self) -> int:
        try:
            return expire_old_results(self.store, self.retention_days)
        except Exception:
            log.exception("result retention sweep failed")
            return 0
        finally:
            self.sweeps += 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sweep()
            self._stop.wait(self.interval_s)
