"""The dispatch port in memory: one kernel per store (its data folder's lock says so).

Each stage is a :class:`~eigen.kernel.scheduler.PriorityScheduler` of entries: highest
priority first, then first come first served. Nothing is durable here, and nothing needs
to be: the jobs are in the store, and a kernel that starts puts every unfinished one back
(:mod:`eigen.kernel.recovery`). ``within`` is ignored: entries are put on the queue after
the jobs' transaction committed (the caller enqueues then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eigen.kernel.dispatch.port import Claimed, Entry, Stage
from eigen.kernel.scheduler import PriorityScheduler


class MemoryDispatch:
    def __init__(self, capacity: int = 100_000) -> None:
        self._queues: dict[Stage, PriorityScheduler[Entry]] = {
            stage: PriorityScheduler(capacity) for stage in Stage
        }

    def enqueue(self, stage: Stage, entries: Sequence[Entry], *, within: Any = None) -> None:
        queue = self._queues[stage]
        for entry in entries:
            queue.push(entry, entry.priority)

    def claim(
        self,
        stage: Stage,
        limit: int,
        timeout_s: float,
        together: Callable[[Entry], bool] | None = None,
    ) -> list[Claimed]:
        entries = self._queues[stage].pop_batch(limit, timeout_s, together or (lambda _: False))
        return [Claimed(entry, stage) for entry in entries]

    def heartbeat(self, claimed: Sequence[Claimed]) -> None:
        """Nothing to keep alive: an entry taken here is nobody else's."""

    def ack(self, claimed: Sequence[Claimed]) -> None:
        """Nothing to remove: a claimed entry already left its queue."""

    def release(self, claimed: Sequence[Claimed]) -> None:
        for item in claimed:
            self._queues[item.stage].push(item.entry, item.entry.priority)

    def depth(self, stage: Stage | None = None) -> int:
        stages = list(Stage) if stage is None else [stage]
        return sum(len(self._queues[s]) for s in stages)

    def close(self) -> None:
        for queue in self._queues.values():
            queue.close()
