"""Watching a job: where a watch stands (:class:`WatchCursor`) and how a bus callback
wakes an asyncio waiter (:func:`waker`, :func:`settle`), for the kernel's ``watch``,
``watch_async`` and ``wait_async``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from eigen.kernel.events import EventBus
from eigen.kernel.store.base import JobStore
from eigen.models.job import JobEvent
from eigen.models.state import JobState


class WatchCursor:
    """Where a watch of one job stands, for :meth:`~eigen.kernel.service.Kernel.watch` and its asyncio twin:
    the events to send next (from the bus when it holds them, else from the store) and
    whether the watch is over."""

    def __init__(
        self, bus: EventBus, store: JobStore, state: Callable[[str], JobState], job_id: str, after_seq: int
    ) -> None:
        self.bus = bus
        self.store = store
        self.state_of = state  # the job's stored state (NotFound when there is no such job)
        self.job_id = job_id
        self.seq = after_seq
        self.over = False
        self._idle = False
        # A job whose events the bus holds exists (its events say the rest); any other is
        # looked up first (NotFound when there is no such job).
        self._state = None if bus.knows(job_id) else state(job_id)

    def next(self) -> list[JobEvent]:
        """The events after the last one sent, up to the terminal one (then ``over``)."""
        events = self.bus.since(self.job_id, self.seq)
        if events is None:
            events = self.store.events(self.job_id, self.seq)
        for index, event in enumerate(events):
            if event.terminal:
                self.over = True
                events = events[: index + 1]
                break
        if events:
            self.seq = events[-1].seq
        elif (self._state is not None and self._state.terminal) or self.bus.ended(self.job_id):
            self.over = True  # nothing after the last event sent, and the job has ended
        self._idle = not events
        return events

    def waited(self, news: bool) -> None:
        """After a wait: when it ended without news and followed none, look at the job's
        state again (news is read by the next :meth:`next`)."""
        if self._idle and not news:
            self._state = self.state_of(self.job_id)


def waker(loop: asyncio.AbstractEventLoop, future: Callable[[], asyncio.Future[bool]]) -> Callable[[], None]:
    """A bus callback, run on the publishing thread, that settles ``future()`` on ``loop``
    with True (news)."""

    def wake() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(settle, future(), True)

    return wake


def settle(future: asyncio.Future[bool], news: bool) -> None:
    """Wake an asyncio waiter (on its loop), once: with True for news, False for a timeout."""
    if not future.done():
        future.set_result(news)
