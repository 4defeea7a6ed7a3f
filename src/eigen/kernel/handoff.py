"""What this process already holds of a job, handed from one stage to the next without a
read: the job as accepted (for the compile stage), its compiled program (for the execute
stage). Only an optimisation: a queue entry names a job, and a stage that finds nothing
here (another node accepted or compiled it, the process restarted, the entry was
evicted) reads it from the store or the artifact store. Bounded: the oldest go first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class Handoff(Generic[T]):
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, job_id: str, item: T) -> None:
        with self._lock:
            self._items[job_id] = item
            self._items.move_to_end(job_id)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def peek(self, job_id: str) -> T | None:
        with self._lock:
            return self._items.get(job_id)

    def take(self, job_id: str) -> T | None:
        with self._lock:
            return self._items.pop(job_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
