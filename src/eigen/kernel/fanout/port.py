"""The event fan-out port: every event a node stores reaches the other nodes.

The store is the record and each node's :class:`~eigen.kernel.events.EventBus` serves its
own watchers; the fan-out carries a copy of each stored event to the buses of the other
nodes, so a WatchJob on any node is woken by a job another node runs. What it carries may
be lost (a broker restarting): the fan-out says so (``lost``) and the bus then reads the
store, so a lost message costs latency, never an event (also a job's last one, which
leaves no gap to notice).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from eigen.models.job import JobEvent


class Fanout(Protocol):
    def start(self, deliver: Callable[[JobEvent], None], lost: Callable[[], None]) -> None:
        """Begin receiving: ``deliver`` is called (on the fan-out's own thread) with each
        event another node published; ``lost`` when messages may have been lost (after a
        reconnection, or a message number skipped), so the receiver reads the store."""

    def publish(self, events: list[JobEvent]) -> None:
        """Send stored events to the other nodes; never raises for a broker that is down
        (the loss is logged and shows in :meth:`problem`)."""

    def problem(self) -> str | None:
        """Why events may not be reaching other nodes now (readiness), or None."""

    def close(self) -> None: ...
