"""Priority scheduler: highest priority first, then first come first served.

Thread-safe; ``pop_batch`` blocks until a job is ready or the timeout passes. A job cancelled
while queued stays in the heap until popped: the pipeline's compare-and-set transition
to RUNNING refuses it, so removal needs no bookkeeping here.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
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

    def pop_batch(
        self, limit: int, timeout: float | None = None, together: Callable[[T], bool] = lambda _: False
    ) -> list[T]:
        """The next item (waiting up to ``timeout``; ``[]`` when none came) and, while it
        and each next one satisfy ``together``, more of them, in order, up to ``limit``."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._heap or self._closed, timeout):
                return []
            if not self._heap:
                return []
            batch = [heapq.heappop(self._heap).item]
            if not together(batch[0]):
                return batch
            while self._heap and len(batch) < limit and together(self._heap[0].item):
                batch.append(heapq.heappop(self._heap).item)
            return batch

    def __len__(self) -> int:
        with self._cond:
            return len(self._heap)

    def full(self) -> bool:
        return len(self) >= self.capacity

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
