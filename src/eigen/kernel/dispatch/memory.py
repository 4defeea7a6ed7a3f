"""The dispatch port in memory: one kernel per store (its data folder's lock says so).

Each stage is a :class:`~eigen.kernel.scheduler.PriorityScheduler` of entries by rank
(:class:`~eigen.kernel.fair_order.FairOrder`, set at enqueue): the compile stage one queue,
the execute stage one per device, each with its capacity (``device_capacity``): a claim
takes the best entry among the devices with a free slot, and ``ack`` or ``release`` frees
the slot. A device held for a session (the port's ``holds``, and while the session lane has
an entry of it) gives out none of its execute entries. Nothing is durable here, and nothing
needs to be: the jobs are in the store, and a kernel that starts puts every unfinished one
back (:mod:`eigen.kernel.recovery`). ``within`` is ignored: entries are put on the queue
after the jobs' transaction committed (the caller enqueues then).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eigen.kernel.dispatch.port import Claimed, Entry, Holds, Stage, Standing, no_holds
from eigen.kernel.fair_order import FairOrder, Shares
from eigen.kernel.scheduler import Key, PriorityScheduler

if TYPE_CHECKING:
    from eigen.config.settings import Settings


_Ticketed = tuple[int, Entry]


def _rank(entry: Entry) -> int:
    return entry.rank if entry.rank is not None else entry.priority


class MemoryDispatch:
    def __init__(
        self,
        capacity: int = 100_000,
        *,
        order: FairOrder | None = None,
        device_capacity: Mapping[str, int] | None = None,
    ) -> None:
        """``order``: how entries are ranked (default: by priority, with aging);
        ``device_capacity``: concurrent executions per device (absent or 0: no limit)."""
        self.order = order or FairOrder()
        self.holds: Holds = no_holds
        self._lane: Counter[str] = Counter()  # the session lane's entries per device, waiting or out
        # items are (ticket, entry): the ticket is the entry's place among equal ranks, kept
        # when it is given back, and the handle of its claim
        self._queues: dict[Stage, PriorityScheduler[_Ticketed]] = {
            Stage.COMPILE: PriorityScheduler(capacity),
            Stage.EXECUTE: PriorityScheduler(
                capacity, group=lambda t: t[1].target, slots=device_capacity, held=self._held
            ),
            Stage.SESSION: PriorityScheduler(capacity, group=lambda t: t[1].target),
        }
        self._tickets = itertools.count(1)
        self._keys: dict[Stage, dict[str, Key]] = {stage: {} for stage in Stage}  # waiting, by job
        self._out: set[int] = set()  # tickets claimed and not yet acked or released
        self._lock = threading.Lock()

    @classmethod
    def of(cls, settings: Settings, shares: Shares | None = None) -> MemoryDispatch:
        """The memory dispatch the settings describe (queue capacity, order, device capacity);
        ``shares``: the tenants' fair shares (default: the ``tenant_shares`` setting)."""
        return cls(
            settings.queue_capacity,
            order=FairOrder.of(settings, shares=shares),
            device_capacity=settings.device_capacity,
        )

    def enqueue(self, stage: Stage, entries: Sequence[Entry], *, within: Any = None) -> None:
        ranked = self.order.ranked(entries, share=stage is Stage.EXECUTE)
        if stage is Stage.SESSION:
            with self._lock:
                self._lane.update(entry.target for entry in ranked)
        for entry in ranked:
            self._push(stage, next(self._tickets), entry)

    def claim(
        self,
        stage: Stage,
        limit: int,
        timeout_s: float,
        together: Callable[[Entry], bool] | None = None,
    ) -> list[Claimed]:
        goes = together or (lambda _: False)
        taken = self._queues[stage].pop_batch(limit, timeout_s, lambda t: goes(t[1]))
        with self._lock:
            self._out.update(ticket for ticket, _ in taken)
            for _, entry in taken:
                self._keys[stage].pop(entry.job_id, None)
        return [Claimed(entry, stage, ticket) for ticket, entry in taken]

    def heartbeat(self, claimed: Sequence[Claimed]) -> None:
        """Nothing to keep alive: an entry taken here is nobody else's."""

    def ack(self, claimed: Sequence[Claimed]) -> None:
        """A claimed entry already left its queue: its device's slot is free again (and a
        session lane's entry no longer holds its device)."""
        settled = self._settle(claimed)
        for item in settled:
            self._queues[item.stage].done((item.handle, item.entry))
        lane = [item.entry.target for item in settled if item.stage is Stage.SESSION]
        if lane:
            with self._lock:
                self._lane.subtract(lane)
                self._lane = +self._lane  # drop the devices down to none
            self._queues[Stage.EXECUTE].wake()

    def release(self, claimed: Sequence[Claimed]) -> None:
        """Back in their queues, in their places; their devices' slots free."""
        for item in self._settle(claimed):
            self._queues[item.stage].done((item.handle, item.entry))
            self._push(item.stage, item.handle, item.entry)

    def _push(self, stage: Stage, ticket: int, entry: Entry) -> None:
        """Onto ``stage``'s queue, at the entry's rank, ties by ``ticket``; its key kept for
        :meth:`standing`."""
        key = self._queues[stage].push((ticket, entry), _rank(entry), ticket)
        with self._lock:
            self._keys[stage][entry.job_id] = key

    def _held(self) -> Mapping[str, float]:
        """The devices held for sessions: by ``holds``, and those the session lane has entries
        of (until their last is acked)."""
        held = dict(self.holds())
        with self._lock:
            held.update((device, math.inf) for device in self._lane)
        return held

    def _settle(self, claimed: Sequence[Claimed]) -> list[Claimed]:
        """The entries of ``claimed`` still out (an entry acked twice frees one slot once)."""
        with self._lock:
            live = [item for item in claimed if item.handle in self._out]
            self._out.difference_update(item.handle for item in live)
        return live

    def standing(self, stage: Stage, entry: Entry) -> Standing | None:
        group = "" if stage is Stage.COMPILE else entry.target
        queue = self._queues[stage]
        with self._lock:
            key = self._keys[stage].get(entry.job_id)
        found = None if key is None else queue.ahead(group, key)
        if found is None:
            if key is not None:  # taken just as it was pushed (before its key was kept)
                with self._lock:
                    if self._keys[stage].get(entry.job_id) == key:
                        del self._keys[stage][entry.job_id]
            return None
        ahead, (_, mine) = found
        return Standing(ahead, _rank(mine), queue.slots(group))

    def depth(self, stage: Stage | None = None) -> int:
        stages = list(Stage) if stage is None else [stage]
        return sum(len(self._queues[s]) for s in stages)

    def close(self) -> None:
        for queue in self._queues.values():
            queue.close()
