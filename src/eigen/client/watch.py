"""Drives :class:`JobFuture` objects from WatchJob streams (the synchronous client).

Each watched job gets one stream, followed by a thread of a bounded pool (at most
``max_streams`` streams at once; further futures wait for a free slot, their jobs run on
meanwhile and the backlog of events arrives when the stream opens). A future that a caller
waits on (``result()``, ``exception()``) and that no stream follows yet gets a thread of
its own at once: the pool's bound is for the futures nobody waits on, so the one a loop
waits for (a session's next iteration) never queues behind a backlog of others. When a stream breaks
because the server cannot be reached, it is resumed after the last event seen
(``after_seq``) until ``resume_timeout`` passes; then the future fails with the error.

The threads are daemon threads: a script that ends without waiting for its jobs exits
at once (the jobs run on in the server) instead of waiting for their streams to end.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from contextlib import closing
from typing import Protocol

from eigen.client.futures import JobFuture, job_error
from eigen.errors import DeadlineExceeded, EigenError, FailedPrecondition, Unavailable
from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState

log = logging.getLogger(__name__)

TRANSIENT = (Unavailable, DeadlineExceeded)


class JobSource(Protocol):
    """What a watcher needs from its client."""

    def watch(self, job_id: str, after_seq: int = 0) -> Generator[JobEvent, None, None]: ...

    def get(self, job_id: str) -> Job: ...

    def results(self, job_id: str) -> JobResult: ...


def client_closed(job_id: str) -> FailedPrecondition:
    return FailedPrecondition(f"the client was closed before job {job_id} ended", metadata={"job_id": job_id})


class Watcher:
    """Follows futures on a bounded pool of threads until their jobs end."""

    def __init__(self, source: JobSource, max_streams: int = 32, resume_timeout: float = 60.0) -> None:
        if max_streams < 1:
            raise ValueError("max_streams must be at least 1")
        self.source = source
        self.resume_timeout = resume_timeout
        self.max_streams = max_streams
        self._queue: queue.SimpleQueue[JobFuture | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)  # one release per worker waiting for work
        self._workers: list[threading.Thread] = []
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pending: set[JobFuture] = set()
        self._followed: set[JobFuture] = set()  # those a thread follows (or followed), until done

    def follow(self, future: JobFuture) -> JobFuture:
        """Start following ``future``; returns it."""
        with self._lock:
            if self._closed.is_set():
                future._set_exception(client_closed(future.id))
                return future
            self._pending.add(future)
        future._awaited = lambda: self._hurry(future)
        future.add_done_callback(self._forget)
        self._queue.put(future)
        self._add_worker()
        return future

    def _add_worker(self) -> None:
        """Start one more thread unless one is idle or the pool is full."""
        if self._idle.acquire(blocking=False):
            return
        with self._lock:
            if len(self._workers) >= self.max_streams or self._closed.is_set():
                return
            worker = threading.Thread(
                target=self._work, name=f"eigen-watch-{len(self._workers)}", daemon=True
            )
            self._workers.append(worker)
        worker.start()

    def _work(self) -> None:
        while True:
            future = self._queue.get()
            if future is None:
                return
            if self._take(future):
                self._run(future)
            del future
            self._idle.release()

    def _take(self, future: JobFuture) -> bool:
        """Whether the caller is the first to follow ``future`` (then it must)."""
        with self._lock:
            if future in self._followed:
                return False
            self._followed.add(future)
            return True

    def _hurry(self, future: JobFuture) -> None:
        """A caller waits on ``future``: follow it now on a thread of its own, unless a
        stream already does."""
        if future.done() or self._closed.is_set() or not self._take(future):
            return
        threading.Thread(target=self._run, args=(future,), name="eigen-watch-awaited", daemon=True).start()

    def close(self) -> None:
        """Stop following: unfinished futures fail with FailedPrecondition (client closed)."""
        with self._lock:
            self._closed.set()
            pending = list(self._pending)
            workers = len(self._workers)
        for _ in range(workers):
            self._queue.put(None)
        for future in pending:
            future._set_exception(client_closed(future.id))

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _forget(self, future: JobFuture) -> None:
        with self._lock:
            self._pending.discard(future)
            self._followed.discard(future)

    def _run(self, future: JobFuture) -> None:
        try:
            self._follow(future)
        except BaseException as exc:
            if self._closed.is_set():
                future._set_exception(client_closed(future.id))
            else:
                log.exception("watching job %s failed", future.id)
                future._set_exception(exc)

    def _follow(self, future: JobFuture) -> None:
        outage_since: float | None = None
        delay = 0.1
        while not future.done():
            if self._closed.is_set():
                future._set_exception(client_closed(future.id))
                return
            try:
                with closing(self.source.watch(future.id, after_seq=future.last_seq)) as events:
                    for event in events:
                        future._apply_event(event)
                        outage_since, delay = None, 0.1
                        if event.terminal:
                            break
                # The stream ended (terminal event, or the server closed it): the job record
                # says how (error code, timings), and whether to resume.
                job = self.source.get(future.id)
                future._apply_job(job)
                if job.state.terminal:
                    self._finish(future, job)
                    return
            except TRANSIENT as exc:
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since >= self.resume_timeout:
                    future._set_exception(exc)
                    return
                log.info("watch of job %s interrupted (%s); resuming in %.1fs", future.id, exc, delay)
                if self._closed.wait(delay):
                    continue
                delay = min(delay * 2, 5.0)
            except EigenError as exc:
                future._set_exception(client_closed(future.id) if self._closed.is_set() else exc)
                return

    def _finish(self, future: JobFuture, job: Job) -> None:
        if job.state is JobState.DONE:
            future._set_result(self.source.results(job.id))
        else:
            future._set_exception(job_error(job))
