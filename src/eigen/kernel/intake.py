"""Group commit of submissions made on an event loop.

A SubmitJob served on the gRPC event loop used to store its job there: while it waited
for the store's writer lock (held by a pipeline batch) and for the insert, the loop
served nobody else. The intake takes the job instead and hands it to one thread, which
stores everything that has arrived meanwhile in one transaction and then settles each
submitter's future on its own loop. Under load a transaction carries many jobs; with one
client it carries one, at the cost of one thread hand-off.

The jobs of one transaction come from different callers, so one bad row (a value the
database refuses) must not fail the others: when a group commit fails, each of its jobs
is stored again on its own, and only the ones that fail alone hear an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence

from eigen.errors import ResourceExhausted, Unavailable
from eigen.models.job import Job
from eigen.models.panics import describe, must_escape

log = logging.getLogger(__name__)

#: jobs stored per transaction at most; more wait for the next one
INTAKE_BATCH = 256

_Entry = tuple[Job, asyncio.AbstractEventLoop, "asyncio.Future[Job]"]


class Intake:
    def __init__(self, accept: Callable[[Sequence[Job]], list[Job]]) -> None:
        """``accept`` stores a batch of new jobs (all or none) and returns them as stored."""
        self._accept = accept
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="eigen-intake", daemon=True)
        self._thread.start()

    async def submit(self, job: Job) -> Job:
        """Store ``job`` with whatever else arrives meanwhile; the job as stored."""
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[Job] = loop.create_future()
        with self._lock:
            if self._closed or self._thread is None:
                raise Unavailable("the kernel is shutting down: try again shortly")
            self._queue.put((job, loop, stored))
        return await stored

    def stop(self, timeout: float) -> None:
        """Store what was handed in before the stop, then end the thread."""
        with self._lock:
            self._closed = True
            self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            batch: list[_Entry] = []
            while entry is not None:
                batch.append(entry)
                if len(batch) >= INTAKE_BATCH:
                    break
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._store(batch)
            if entry is None:
                return

    def _store(self, batch: list[_Entry]) -> None:
        jobs = [job for job, _, _ in batch]
        outcomes: list[Job | BaseException]
        try:
            outcomes = list(self._accept(jobs))
        except BaseException as exc:
            if must_escape(exc):
                raise
            if len(batch) == 1 or _whole_service(exc):
                outcomes = [exc] * len(batch)
            else:  # one job may be the cause: store each alone, so only that one fails
                log.warning(
                    "storing submitted jobs together failed; storing them one by one",
                    extra={"jobs": len(batch), "error": describe(exc)},
                )
                outcomes = [self._accept_one(job) for job in jobs]
        for outcome, (_, loop, stored) in zip(outcomes, batch, strict=True):
            with contextlib.suppress(RuntimeError):  # the submitter's loop closed: nobody waits
                loop.call_soon_threadsafe(_settle, stored, outcome)

    def _accept_one(self, job: Job) -> Job | BaseException:
        try:
            return self._accept([job])[0]
        except BaseException as exc:
            if must_escape(exc):
                raise
            log.warning("storing a submitted job failed", extra={"job_id": job.id, "error": describe(exc)})
            return exc


def _whole_service(exc: BaseException) -> bool:
    """A refusal that concerns every job alike (the data folder is full or unwritable, the
    kernel is stopping): storing the jobs one by one would only repeat it."""
    return isinstance(exc, (ResourceExhausted, Unavailable))


def _settle(stored: asyncio.Future[Job], outcome: Job | BaseException) -> None:
    if stored.done():  # the submitter gave up (its call was cancelled)
        return
    if isinstance(outcome, BaseException):
        stored.set_exception(outcome)
    else:
        stored.set_result(outcome)
