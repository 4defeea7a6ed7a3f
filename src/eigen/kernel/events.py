"""In-process fan-out of job events: wakes the watchers of a job when it has news.

The store is the record; this bus only says "job X reached seq N" so that watchers
re-read the store instead of polling it. Each job has its own condition, so an event
wakes only that job's watchers. It also remembers which jobs ended, which lets a long
loop notice a cancel without reading the store.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from eigen.models.job import JobEvent

_ENDED_MEMORY = 100_000


class _Channel:
    __slots__ = ("cond", "watchers")

    def __init__(self, lock: threading.Lock) -> None:
        self.cond = threading.Condition(lock)
        self.watchers = 0


class EventBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}
        self._latest: dict[str, int] = {}  # jobs that have not ended
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._closed = False

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            if event.terminal:
                self._latest.pop(event.job_id, None)
                self._ended[event.job_id] = None
                if len(self._ended) > _ENDED_MEMORY:
                    self._ended.popitem(last=False)
            else:
                self._latest[event.job_id] = max(self._latest.get(event.job_id, 0), event.seq)
            channel = self._channels.get(event.job_id)
            if channel is not None:
                channel.cond.notify_all()

    def wait(self, job_id: str, after_seq: int, timeout: float) -> bool:
        """Block until the job has an event past ``after_seq`` (True) or timeout (False).

        Events published before the wait began are in the store: callers read the store
        first, then wait with the last sequence number they saw.
        """
        with self._lock:
            channel = self._channels.get(job_id)
            if channel is None:
                channel = self._channels[job_id] = _Channel(self._lock)
            channel.watchers += 1
            try:
                return channel.cond.wait_for(lambda: self._has_news(job_id, after_seq), timeout)
            finally:
                channel.watchers -= 1
                if channel.watchers == 0:
                    del self._channels[job_id]

    def _has_news(self, job_id: str, after_seq: int) -> bool:
        return self._closed or job_id in self._ended or self._latest.get(job_id, 0) > after_seq

    def ended(self, job_id: str) -> bool:
        """True once this process has published the job's terminal event."""
        with self._lock:
            return job_id in self._ended

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for channel in self._channels.values():
                channel.cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
