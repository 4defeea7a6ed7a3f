"""Priority scheduler: highest priority first, then first come first served, over queues
per group (a device) that each may have a capacity (items taken and not yet ``done``).

A pop takes the best item among the groups with a free slot, so an item whose group is
full waits without holding back another group's (no head-of-line blocking). With no
``group`` every item is in one unlimited group: one priority queue. A group can also be
held (``held``: group -> until, epoch seconds; a device held for a session): its items wait
until the hold ends or is lifted; a pop that waits on one looks again when it ends, and
:meth:`wake` makes waiting pops look again at once (a hold lifted early).

Thread-safe; ``pop_batch`` blocks until an item is ready or the timeout passes. A job cancelled
while queued stays in the heap until popped: the pipeline's compare-and-set transition
to RUNNING refuses it, so removal needs no bookkeeping here.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(order=True)
class _Entry(Generic[T]):
    key: tuple[int, int]
    item: T = field(compare=False)


class PriorityScheduler(Generic[T]):
    def __init__(
        self,
        capacity: int = 100_000,
        *,
        group: Callable[[T], str] | None = None,
        slots: Mapping[str, int] | None = None,
        held: Callable[[], Mapping[str, float]] | None = None,
    ) -> None:
        """``group``: an item's queue (default: one for all); ``slots``: how many items of a
        group may be out (taken and not ``done``) at once; absent or 0: no limit; ``held``:
        the groups held now, each until an epoch second (``math.inf``: until :meth:`wake`)."""
        self.capacity = capacity
        self._group = group or (lambda _: "")
        self._held = held
        self._slots = {name: n for name, n in (slots or {}).items() if n > 0}
        self._heaps: dict[str, list[_Entry[T]]] = {}
        self._out: dict[str, int] = {}
        self._size = 0
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def push(self, item: T, priority: int, order: int | None = None) -> None:
        """Queue ``item``; ``order`` breaks ties of priority, smaller first (default: after
        everything pushed so far; an item given back passes its first one to keep its place)."""
        with self._cond:
            heap = self._heaps.setdefault(self._group(item), [])
            heapq.heappush(heap, _Entry((-priority, next(self._order) if order is None else order), item))
            self._size += 1
            self._cond.notify()

    def done(self, item: T) -> None:
        """A taken item is finished with (or given back): its group's slot is free."""
        name = self._group(item)
        with self._cond:
            if name in self._slots and self._out.get(name, 0) > 0:
                self._out[name] -= 1
                self._cond.notify()

    def pop_batch(
        self, limit: int, timeout: float | None = None, together: Callable[[T], bool] = lambda _: False
    ) -> list[T]:
        """The next item (waiting up to ``timeout``; ``[]`` when none came) and, while it
        and each next one satisfy ``together``, more of them, in order, up to ``limit``:
        each the best of the groups with a free slot then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                held = self._holds()
                if self._closed or self._best(held) is not None:
                    break
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return []
                self._cond.wait(_earlier(wait, self._until_lifted(held)))
            first = self._take(held)
            if first is None:
                return []
            batch = [first]
            if not together(first):
                return batch
            while len(batch) < limit:
                name = self._best(held)
                if name is None or not together(self._heaps[name][0].item):
                    break
                taken = self._take(held)
                if taken is None:
                    break
                batch.append(taken)
            return batch

    def wake(self) -> None:
        """Waiting pops look again (a hold was lifted)."""
        with self._cond:
            self._cond.notify_all()

    def _holds(self) -> Mapping[str, float]:
        """The groups held now (those whose hold has not ended)."""
        if self._held is None:
            return {}
        now = time.time()
        return {name: until for name, until in self._held().items() if until > now}

    def _until_lifted(self, held: Mapping[str, float]) -> float | None:
        """Seconds until the first hold on a group with items ends (None: no such hold ends)."""
        ends = [held[name] for name, heap in self._heaps.items() if heap and name in held]
        first = min(ends, default=math.inf)
        return None if first == math.inf else max(0.0, first - time.time())

    def _best(self, held: Mapping[str, float]) -> str | None:
        """The group whose first item goes next, among those with a free slot, not held."""
        best: str | None = None
        for name, heap in self._heaps.items():
            free = heap and self._out.get(name, 0) < self._slots.get(name, 1 << 62) and name not in held
            if free and (best is None or heap[0] < self._heaps[best][0]):
                best = name
        return best

    def _take(self, held: Mapping[str, float]) -> T | None:
        name = self._best(held)
        if name is None:
            return None
        item = heapq.heappop(self._heaps[name]).item
        self._size -= 1
        if name in self._slots:
            self._out[name] = self._out.get(name, 0) + 1
        return item

    def ahead(self, group: str, match: Callable[[T], bool]) -> tuple[int, T] | None:
        """The first item of ``group`` that ``match`` finds there and how many items of the
        group go before it (None: none waits there). Two passes over the group's queue."""
        with self._cond:
            heap = self._heaps.get(group, [])
            mine = next((entry for entry in heap if match(entry.item)), None)
            if mine is None:
                return None
            return sum(1 for entry in heap if entry < mine), mine.item

    def slots(self, group: str) -> int:
        """How many items of ``group`` may be out at once (0: no limit)."""
        return self._slots.get(group, 0)

    def out(self, group: str) -> int:
        """Items of ``group`` taken and not yet done (counted where it has a capacity)."""
        with self._cond:
            return self._out.get(group, 0)

    def __len__(self) -> int:
        with self._cond:
            return self._size

    def full(self) -> bool:
        return len(self) >= self.capacity

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _earlier(a: float | None, b: float | None) -> float | None:
    """The shorter of two waits (None: no limit)."""
    if a is None:
        return b
    return a if b is None else min(a, b)
