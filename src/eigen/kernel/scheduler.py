"""Priority scheduler: highest priority first, then first come first served.

Thread-safe; ``pop`` blocks until a job is ready or the timeout passes. A job cancelled
while queued stays in the heap until popped: the pipeline's compare-and-set transition
to RUNNING refuses it, so removal needs no bookkeeping here.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(order=True)
class _Entry(Generic[T]):
    key: tuple[int, int]
    item: T = field(compare=False)


class PriorityScheduler(Generic[T]):
    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._heap: list[_Entry[T]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def push(self, item: T, priority: int) -> None:
        with self._cond:
            heapq.heappush(self._heap, _Entry((-priority, next(self._order)), item))
            self._cond.notify()

    def pop(self, timeout: float | None = None) -> T | None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._heap or self._closed, timeout):
                return None
            if not self._heap:
                return None
            return heapq.heappop(self._heap).item

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)

    def full(self) -> bool:
        return len(self) >= self.capacity

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
