"""Priority scheduler: highest priority first, then first come first served, over queues
per group (a device) that each may have a capacity (items taken and not yet ``done``).

A pop takes the best item among the groups with a free slot, so an item whose group is
full waits without holding back another group's (no head-of-line blocking). With no
``group`` every item is in one unlimited group: one priority queue. A group can also be
held (``held``: group -> until, epoch seconds; a device held for a session): its items wait
until the hold ends or is lifted; a pop that waits on one looks again when it ends, and
:meth:`wake` makes waiting pops look again at once (a hold lifted early).

Each group's queue is a sorted list of keys (``sortedcontainers``), so a push and a pop
cost O(log n), and so does :meth:`ahead`, the count of the items before one (a job's
position, which GetJob shows, read under the lock the workers take their items with).

Thread-safe; ``pop_batch`` blocks until an item is ready or the timeout passes. A job cancelled
while queued stays in its queue until popped: the pipeline's compare-and-set transition
to RUNNING refuses it, so removal needs no bookkeeping here.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from sortedcontainers import SortedList

T = TypeVar("T")

Key = tuple[int, int, int]
"""An item's place: (-priority, order, push sequence), smaller first; unique per push."""


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
        self._queues: dict[str, SortedList] = {}  # each group's keys
        self._items: dict[Key, T] = {}
        self._pushes = itertools.count()
        self._out: dict[str, int] = {}
        self._size = 0
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._closed = False

    def push(self, item: T, priority: int, order: int | None = None) -> Key:
        """Queue ``item``; ``order`` breaks ties of priority, smaller first (default: after
        everything pushed so far; an item given back passes its first one to keep its place).
        Its key, by which :meth:`ahead` finds it."""
        key = (-priority, next(self._order) if order is None else order, next(self._pushes))
        with self._cond:
            self._queues.setdefault(self._group(item), SortedList()).add(key)
            self._items[key] = item
            self._size += 1
            self._cond.notify()
        return key

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
        while True:
            held = self._holds()  # outside the lock: ``held`` may read a store
            with self._cond:
                if self._closed or self._best(held) is not None:
                    return self._batch(held, limit, together)
                wait = None if deadline is None else deadline - time.monotonic()
                if wait is not None and wait <= 0:
                    return []
                self._cond.wait(_earlier(wait, self._until_lifted(held)))

    def _batch(self, held: Mapping[str, float], limit: int, together: Callable[[T], bool]) -> list[T]:
        """The best item and, while they satisfy ``together``, the next ones (under the lock)."""
        first = self._take(held)
        if first is None:
            return []
        batch = [first]
        if not together(first):
            return batch
        while len(batch) < limit:
            name = self._best(held)
            if name is None or not together(self._items[self._queues[name][0]]):
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
        ends = [held[name] for name, keys in self._queues.items() if keys and name in held]
        first = min(ends, default=math.inf)
        return None if first == math.inf else max(0.0, first - time.time())

    def _best(self, held: Mapping[str, float]) -> str | None:
        """The group whose first item goes next, among those with a free slot, not held."""
        best: str | None = None
        for name, keys in self._queues.items():
            free = keys and self._out.get(name, 0) < self._slots.get(name, 1 << 62) and name not in held
            if free and (best is None or keys[0] < self._queues[best][0]):
                best = name
        return best

    def _take(self, held: Mapping[str, float]) -> T | None:
        name = self._best(held)
        if name is None:
            return None
        item = self._items.pop(self._queues[name].pop(0))
        self._size -= 1
        if name in self._slots:
            self._out[name] = self._out.get(name, 0) + 1
        return item

    def ahead(self, group: str, key: Key) -> tuple[int, T] | None:
        """The item of ``key`` in ``group``'s queue and how many items of the group go
        before it (None: it does not wait there, e.g. it was taken)."""
        with self._cond:
            item = self._items.get(key)
            keys = self._queues.get(group)
            if item is None or keys is None:
                return None
            return keys.bisect_left(key), item

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
