"""In-process fan-out of job events: wakes watchers when a job has something new.

The store is the record; this bus only says "job X reached seq N" so that watchers
re-read the store instead of polling it.
"""

from __future__ import annotations

import threading

from eigen.models.job import JobEvent


class EventBus:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._latest: dict[str, int] = {}
        self._closed = False

    def publish(self, event: JobEvent) -> None:
        with self._cond:
            if event.seq > self._latest.get(event.job_id, 0):
                self._latest[event.job_id] = event.seq
            self._cond.notify_all()

    def wait(self, job_id: str, after_seq: int, timeout: float) -> bool:
        """Block until the job has an event past ``after_seq`` (True) or timeout (False)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._closed or self._latest.get(job_id, 0) > after_seq, timeout
            )

    def forget(self, job_id: str) -> None:
        with self._cond:
            self._latest.pop(job_id, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
