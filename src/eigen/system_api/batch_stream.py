"""SubmitBatchStream: submit items as they arrive and report each one's fate.

For every item: ``submitted`` (with its job id) then ``completed`` (with results) or
``error``; an item the server refuses gets ``error`` straight away. The stream ends once
the input is closed and every submitted job is terminal.
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


def run_batch_stream(
    api: JobApi, items: Iterator[Item], active: Callable[[], bool] = lambda: True
) -> Iterator[BatchEvent]:
    events: queue.Queue[BatchEvent | object] = queue.Queue()
    context = contextvars.copy_context()
    pool = ThreadPoolExecutor(max_workers=WATCHERS, thread_name_prefix="eigen-batch-watch")

    def follow(request_id: str, job_id: str) -> None:
        try:
            for _ in api.watch(job_id, 0, active):
                pass
            job = api.get(job_id)
            if job.state is JobState.DONE:
                events.put(BatchEvent(request_id, "completed", job_id, result=api.results(job_id)))
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
                    job, _ = api.submit(item)
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
