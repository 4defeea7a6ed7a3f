"""SubmitBatchStream: submit items as they arrive and report each one's fate.

For every item: ``submitted`` (with its job id) then ``completed`` (with results) or
``error``; an item the server refuses gets ``error`` straight away. The stream ends once
the input is closed and every submitted job is terminal.

:func:`open_batch_stream` authorizes the stream once, before anything is read (a caller
that may not submit is refused the stream, not each item); each item is then checked for
its backend (the policy's ``allowed_backends`` and rate) and refused alone if need be.
Following the submitted jobs needs no further check: they are the caller's own.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from eigen.errors import EigenError, error_for
from eigen.models.job import JobRequest
from eigen.models.principal import Principal
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.system_api.service import JobApi

WATCHERS = 8


@dataclass(frozen=True)
class BatchEvent:
    client_request_id: str
    kind: str  # "submitted", "completed" or "error"
    job_id: str = ""
    result: JobResult | None = None
    error: EigenError | None = None


Item = tuple[str, JobRequest | EigenError]
_INPUT_CLOSED = object()


OPERATION = "SubmitBatchStream"

BatchStream = Callable[[Iterator[Item], Callable[[], bool]], Iterator[BatchEvent]]


def open_batch_stream(api: JobApi) -> BatchStream:
    """The stream of the call's principal, once allowed (PERMISSION_DENIED or
    RESOURCE_EXHAUSTED now, before any item is read): ``stream(items, active)``."""
    principal = api.authorize(OPERATION)

    def stream(items: Iterator[Item], active: Callable[[], bool]) -> Iterator[BatchEvent]:
        return run_batch_stream(api, items, active, principal)

    return stream


def run_batch_stream(
    api: JobApi,
    items: Iterator[Item],
    active: Callable[[], bool],
    principal: Principal,
) -> Iterator[BatchEvent]:
    """The events of ``items`` submitted as ``principal`` (whom the stream was opened for)."""
    kernel = api.kernel
    events: queue.Queue[BatchEvent | object] = queue.Queue()
    context = contextvars.copy_context()
    pool = ThreadPoolExecutor(max_workers=WATCHERS, thread_name_prefix="eigen-batch-watch")

    def follow(request_id: str, job_id: str) -> None:
        try:
            for _ in kernel.watch(job_id, 0, active):
                pass
            job = kernel.get(job_id)
            if job.state is JobState.DONE:
                events.put(BatchEvent(request_id, "completed", job_id, result=kernel.results(job_id)))
            else:
                summary = job.error_summary or f"job ended in {job.state.value}"
                failure = error_for(job.error_code or "EIGEN_CANCELLED", summary)
                events.put(BatchEvent(request_id, "error", job_id, error=failure))
        except EigenError as exc:
            events.put(BatchEvent(request_id, "error", job_id, error=exc))

    def read() -> None:
        try:
            for request_id, item in items:
                if isinstance(item, EigenError):
                    events.put(BatchEvent(request_id, "error", error=item))
                    continue
                try:
                    api.guard.authorize(principal, OPERATION, backend=item.target)
                    job, _ = api.submit_as(principal, OPERATION, item)
                except EigenError as exc:
                    events.put(BatchEvent(request_id, "error", error=exc))
                    continue
                events.put(BatchEvent(request_id, "submitted", job.id))
                pool.submit(context.copy().run, follow, request_id, job.id)
        finally:
            events.put(_INPUT_CLOSED)

    reader = threading.Thread(target=context.run, args=(read,), name="eigen-batch-read", daemon=True)
    reader.start()
    outstanding, closed = 0, False
    try:
        while active() and not (closed and outstanding == 0):
            try:
                event = events.get(timeout=0.5)
            except queue.Empty:
                continue
            if event is _INPUT_CLOSED:
                closed = True
                continue
            assert isinstance(event, BatchEvent)
            if event.kind == "submitted":
                outstanding += 1
            elif event.job_id:
                outstanding -= 1
            yield event
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
