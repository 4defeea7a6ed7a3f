"""Group commit of submissions made on an event loop.

A SubmitJob served on the gRPC event loop used to store its job there: while it waited
for the store's writer lock (held by a pipeline batch) and for the insert, the loop
served nobody else. The intake takes the job instead and hands it to one thread, which
stores everything that has arrived meanwhile in one transaction and then settles each
submitter's future on its own loop. Under load a transaction carries many jobs; with one
client it carries one, at the cost of one thread hand-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence

from eigen.errors import Unavailable
from eigen.models.job import Job

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
        try:
            outcomes: list[Job] | BaseException = self._accept([job for job, _, _ in batch])
        except BaseException as exc:  # e.g. the store failed: every submitter hears it
            log.warning("storing submitted jobs failed", extra={"jobs": len(batch), "error": str(exc)})
            outcomes = exc
        for index, (_, loop, stored) in enumerate(batch):
            outcome = outcomes if isinstance(outcomes, BaseException) else outcomes[index]
            with contextlib.suppress(RuntimeError):  # the submitter's loop closed: nobody waits
                loop.call_soon_threadsafe(_settle, stored, outcome)


def _settle(stored: asyncio.Future[Job], outcome: Job | BaseException) -> None:
    if stored.done():  # the submitter gave up (its call was cancelled)
        return
    if isinstance(outcome, BaseException):
        stored.set_exception(outcome)
    else:
        stored.set_result(outcome)
