"""Every time limit of a job, in one place: the job's deadline (its ``timeout_seconds``,
else ``default_timeout_s``, counted from submission), the compile stage's limit, and the
watchdog that ends overdue jobs in TIMEOUT.

A job's deadline is stored with it (``Job.deadline_at``, set when it is created), so any
node, or this one after a restart, knows it. The watchdog keeps a heap of the deadlines of
the jobs this kernel knows about (the embedded mode's quick path) and, as a singleton duty
(:mod:`eigen.kernel.duties`), scans the store for overdue jobs nobody here tracks.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from eigen.errors import DeadlineExceeded
from eigen.kernel.deadline import call_with_deadline
from eigen.kernel.lifecycle import Lifecycle
from eigen.models.job import Job
from eigen.models.panics import describe, must_escape
from eigen.models.state import JobState

log = logging.getLogger(__name__)

T = TypeVar("T")
SCAN_LIMIT = 100  # overdue jobs timed out per store scan; the next scan takes the rest


class StageTimeout(DeadlineExceeded):
    """A stage ran past its limit: the job ends in TIMEOUT."""


def deadline_at(created_at: float, timeout_s: float | None, default_timeout_s: float) -> float:
    """When a job created at ``created_at`` times out."""
    return created_at + (timeout_s or default_timeout_s)


class Timeouts:
    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        default_timeout_s: float = 3600.0,
        compile_timeout_s: float | None = None,
        interval_s: float = 0.1,
        stopping: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lifecycle = lifecycle
        self.default_timeout_s = default_timeout_s
        self.compile_timeout_s = compile_timeout_s or None
        self.interval_s = interval_s
        self.stopping = stopping or threading.Event()
        self.clock = clock
        self._lock = threading.Lock()
        self._deadlines: dict[str, float] = {}  # job id -> deadline, of the jobs tracked here
        self._heap: list[tuple[float, str]] = []  # the same, in order (stale entries skipped)

    # -- the job's deadline --------------------------------------------------------------
    def deadline_of(self, job: Job) -> float:
        if job.deadline_at is not None:
            return job.deadline_at
        return deadline_at(job.created_at, job.request.timeout_seconds, self.default_timeout_s)

    def limit_of(self, job: Job) -> float:
        return job.request.timeout_seconds or self.default_timeout_s

    def overdue(self, job: Job) -> bool:
        """Past its deadline, whether or not the watchdog saw it."""
        return self.clock() >= self.deadline_of(job)

    def time_out(self, job: Job) -> None:
        """End the job in TIMEOUT (the watchdog, or a stage that finished too late)."""
        summary = f"job exceeded its timeout of {self.limit_of(job):g} s"
        error: dict[str, Any] = {"error_code": "EIGEN_DEADLINE_EXCEEDED", "error_summary": summary}
        self.lifecycle.move(job.id, JobState.TIMEOUT, summary, data=error, **error)

    # -- the compile stage's limit -------------------------------------------------------
    def compile(self, call: Callable[[], T]) -> T:
        """``call()`` (a compile) within ``compile_timeout_s``: StageTimeout past it."""
        limit = self.compile_timeout_s
        if not limit:
            return call()
        try:
            return call_with_deadline(call, limit, name="eigen-compile-call")
        except FutureTimeout:
            raise StageTimeout(f"compilation exceeded its timeout of {limit:g} s") from None

    # -- the watchdog --------------------------------------------------------------------
    def track(self, job: Job) -> None:
        deadline = self.deadline_of(job)
        with self._lock:
            self._deadlines[job.id] = deadline
            heapq.heappush(self._heap, (deadline, job.id))

    def untrack(self, job_id: str) -> None:
        with self._lock:
            self._deadlines.pop(job_id, None)

    def tracked(self) -> int:
        with self._lock:
            return len(self._deadlines)

    def due(self) -> list[str]:
        """The tracked jobs past their deadline (no longer tracked from now on)."""
        now = self.clock()
        expired: list[str] = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                deadline, job_id = heapq.heappop(self._heap)
                if self._deadlines.get(job_id) == deadline:
                    del self._deadlines[job_id]
                    expired.append(job_id)
            if len(self._heap) > 2 * len(self._deadlines) + 1024:  # mostly stale: rebuild
                self._heap = [(d, j) for j, d in self._deadlines.items()]
                heapq.heapify(self._heap)
        return expired

    def check(self) -> None:
        """One round of the watchdog over the tracked jobs."""
        for job_id in self.due():
            self._time_out_stored(job_id)

    def scan(self) -> int:
        """Time out the overdue jobs the store holds (the singleton duty: jobs tracked by
        no live kernel, e.g. after a restart or on another node); how many."""
        jobs = self.lifecycle.store.overdue(self.clock(), limit=SCAN_LIMIT)
        for job in jobs:
            self.untrack(job.id)
            self._time_out_stored(job.id, job)
        return len(jobs)

    def loop(self) -> None:
        """The watchdog thread: :meth:`check` every ``interval_s`` until the kernel stops."""
        while not self.stopping.wait(self.interval_s):
            self.check()

    def _time_out_stored(self, job_id: str, job: Job | None = None) -> None:
        try:
            job = job if job is not None else self.lifecycle.store.get(job_id)
            if job is None or job.terminal:
                return
            self.time_out(job)
        except BaseException as exc:  # e.g. the store failed: the next round goes on
            if must_escape(exc):
                raise
            log.error("timing out a job failed", extra={"job_id": job_id, "error": describe(exc)})
