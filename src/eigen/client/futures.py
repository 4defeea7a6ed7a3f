"""Futures of submitted jobs, and the ``as_completed`` / ``wait`` helpers.

A :class:`JobFuture` is the record of an accepted job (a :class:`~eigen.models.job.Job`,
so code written for ``submit() -> Job`` keeps working) that stays current while the job
runs, plus the :class:`concurrent.futures.Future` protocol: ``result(timeout)``,
``done()``, ``cancel()``, ``add_done_callback(fn)``. It is driven by the job's WatchJob
stream (see :mod:`eigen.client.watch`), never by polling.
"""

from __future__ import annotations

import concurrent.futures as cf
import copy
import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

from eigen.errors import Cancelled, DeadlineExceeded, EigenError, ExecutionFailed, error_for
from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState

log = logging.getLogger(__name__)

FIRST_COMPLETED = cf.FIRST_COMPLETED
FIRST_EXCEPTION = cf.FIRST_EXCEPTION
ALL_COMPLETED = cf.ALL_COMPLETED

_JOB_FIELDS = tuple(f.name for f in dataclasses.fields(Job))


def job_error(job: Job) -> EigenError:
    """The typed error of a job that ended in a state other than DONE."""
    metadata = {"job_id": job.id, "state": job.state.value}
    summary = job.error_summary or ""
    if job.state is JobState.CANCELLED:
        error: EigenError = Cancelled(f"job {job.id} was cancelled" + (f": {summary}" if summary else ""))
    elif job.state is JobState.TIMEOUT:
        error = DeadlineExceeded(f"job {job.id} timed out" + (f": {summary}" if summary else ""))
    elif job.error_code:
        error = error_for(job.error_code, f"job {job.id} failed: {summary or job.error_code}")
    else:
        error = ExecutionFailed(f"job {job.id} ended in {job.state.value}: {summary or 'no details'}")
    error.metadata.update(metadata)
    return error


class LiveJob(Job):
    """A :class:`Job` whose fields follow the job's events. Compared by identity."""

    def _adopt(self, job: Job) -> None:
        for name in _JOB_FIELDS:
            setattr(self, name, getattr(job, name))

    def _apply_job(self, job: Job) -> None:
        """Take the server's view of the job; keep the request this client submitted."""
        for name in _JOB_FIELDS:
            if name != "request":
                setattr(self, name, getattr(job, name))

    def _apply_event(self, event: JobEvent) -> None:
        if event.seq <= self.last_seq:
            return
        self.last_seq = event.seq
        self.updated_at = max(self.updated_at, event.timestamp)
        if event.kind == "state":
            self.state = event.state
        elif event.kind == "progress":
            self.progress = dict(event.data)

    @property
    def job_id(self) -> str:
        return self.id

    @property
    def status(self) -> JobState:
        """The latest state seen on the job's event stream."""
        return self.state

    @property
    def job(self) -> Job:
        """A plain snapshot of the job record as known now."""
        return Job(**{name: copy.copy(getattr(self, name)) for name in _JOB_FIELDS})

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(job_id={self.id!r}, state={self.state.value})"


class JobFuture(LiveJob):
    """The future of one submitted job (thread-safe).

    ``result()`` returns the :class:`JobResult` once the job is DONE and raises the typed
    :mod:`eigen.errors` error when it ended otherwise (Cancelled, DeadlineExceeded for
    TIMEOUT, CompilationFailed, ExecutionFailed, ...).
    """

    def __init__(self, job: Job, cancel_job: Callable[[str], Job]) -> None:
        self._adopt(job)
        self._cancel_job = cancel_job
        self._outcome: cf.Future[JobResult] = cf.Future()
        self._outcome.set_running_or_notify_cancel()
        self._finish = threading.Lock()
        self._awaited: Callable[[], None] = lambda: None  # the watcher's: a caller waits on it

    # -- the Future protocol -------------------------------------------------------------
    def done(self) -> bool:
        return self._outcome.done()

    def running(self) -> bool:
        return not self._outcome.done()

    def cancelled(self) -> bool:
        """True when the job ended CANCELLED."""
        return self._outcome.done() and self.state is JobState.CANCELLED

    def result(self, timeout: float | None = None) -> JobResult:
        """Wait up to ``timeout`` seconds (None: forever); TimeoutError when it runs out."""
        if not self._outcome.done():
            self._awaited()
        return self._outcome.result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self._outcome.done():
            self._awaited()
        return self._outcome.exception(timeout)

    def add_done_callback(self, fn: Callable[[JobFuture], object]) -> None:
        """Call ``fn(future)`` when the job ends (at once when it already has).

        Callbacks run in the thread that finished the future (a watch thread); exceptions
        they raise are logged and ignored.
        """
        self._outcome.add_done_callback(lambda _: fn(self))

    def cancel(self) -> bool:
        """Ask the server to cancel the job. True when the job is (now) CANCELLED."""
        if self.done():
            return False
        try:
            job = self._cancel_job(self.id)
        except EigenError as exc:
            log.info("cancel of job %s refused: %s", self.id, exc)
            return False
        if job.state.terminal:
            self._apply_job(job)
            self._set_exception(job_error(job))
        return job.state is JobState.CANCELLED

    # -- completion (called by the watcher) -----------------------------------------------
    def _set_result(self, result: JobResult) -> bool:
        with self._finish:
            if self._outcome.done():
                return False
            self._outcome.set_result(result)
            return True

    def _set_exception(self, error: BaseException) -> bool:
        with self._finish:
            if self._outcome.done():
                return False
            self._outcome.set_exception(error)
            return True


class DoneAndNotDone(NamedTuple):
    done: set[JobFuture]
    not_done: set[JobFuture]


def as_completed(futures: Iterable[JobFuture], timeout: float | None = None) -> Iterator[JobFuture]:
    """Yield the futures as their jobs end; TimeoutError if ``timeout`` seconds pass first."""
    by_outcome = {f._outcome: f for f in futures}
    for outcome in cf.as_completed(by_outcome, timeout):
        yield by_outcome[outcome]


def wait(
    futures: Iterable[JobFuture], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Wait for the futures like :func:`concurrent.futures.wait` (FIRST_COMPLETED,
    FIRST_EXCEPTION or ALL_COMPLETED); returns the (done, not_done) sets."""
    by_outcome: dict[cf.Future[Any], JobFuture] = {f._outcome: f for f in futures}
    finished, pending = cf.wait(by_outcome, timeout, return_when)
    return DoneAndNotDone({by_outcome[f] for f in finished}, {by_outcome[f] for f in pending})
