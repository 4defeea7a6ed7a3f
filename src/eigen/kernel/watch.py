"""Watching a job over the event bus: :class:`Watching` (the kernel's ``watch``,
``watch_async`` and ``wait_async``), where a watch stands (:class:`WatchCursor`) and how a
bus callback wakes an asyncio waiter (:func:`waker`, :func:`settle`).

The bus holds the events published in this process (and, with a fan-out, those other
nodes published); whatever it does not hold is read from the store, so a watch never
misses an event whoever recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator

from eigen.errors import NotFound
from eigen.kernel.events import EventBus
from eigen.kernel.store.base import JobStore
from eigen.models.job import JobEvent
from eigen.models.state import JobState

POLL_S = 0.5  # a watch without news looks at the store this often


class Watching:
    """Follows jobs' events until they end; stops when ``stopping`` is set (the kernel
    stops: open watches end)."""

    def __init__(self, bus: EventBus, store: JobStore, stopping: threading.Event) -> None:
        self.bus = bus
        self.store = store
        self.stopping = stopping

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        """Events of a job after ``after_seq``, live, until its terminal event."""
        cursor = WatchCursor(self.bus, self.store, self.state, job_id, after_seq)
        while active() and not self.stopping.is_set():
            yield from cursor.next()
            if cursor.over:
                return
            cursor.waited(news=self.bus.wait(job_id, cursor.seq, timeout=POLL_S))

    async def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        """:meth:`watch` for asyncio callers: the same events, waiting on the event loop
        (woken through the bus) instead of holding a thread."""
        loop = asyncio.get_running_loop()
        news: list[asyncio.Future[bool]] = [loop.create_future()]  # the one to wake
        wake = waker(loop, lambda: news[0])
        self.bus.subscribe(job_id, wake)
        try:
            cursor = WatchCursor(self.bus, self.store, self.state, job_id, after_seq)
            while not self.stopping.is_set():
                if news[0].done():
                    news[0] = loop.create_future()
                for event in cursor.next():
                    yield event
                if cursor.over:
                    return
                timer = loop.call_later(POLL_S, settle, news[0], False)  # a plain future, no task per wait
                try:
                    woken = await news[0]
                finally:
                    timer.cancel()
                cursor.waited(news=woken)
        finally:
            self.bus.unsubscribe(job_id, wake)

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        """Wait on the event loop until the job has ended (True) or ``timeout_s`` has
        passed (False); woken by the bus on the job's terminal event only."""
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[bool] = loop.create_future()
        wake = waker(loop, lambda: ended)
        self.bus.subscribe(job_id, wake, ends_only=True)
        try:
            if self.has_ended(job_id) or self.stopping.is_set():
                return self.has_ended(job_id)
            timer = loop.call_later(timeout_s, settle, ended, False)
            try:
                await ended
            finally:
                timer.cancel()
            return self.has_ended(job_id)
        finally:
            self.bus.unsubscribe(job_id, wake)

    def has_ended(self, job_id: str) -> bool:
        if self.bus.final(job_id) is not None:
            return True
        if self.bus.knows(job_id):  # its events so far are here, and none ended it
            return False
        return self.state(job_id).terminal  # NotFound for no such job

    def state(self, job_id: str) -> JobState:
        """The job's stored state; NotFound when there is no such job."""
        head = self.store.head(job_id)
        if head is None:
            raise NotFound(f"job {job_id} not found")
        return head[0]


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
        elif not events and self._ended():
            # It ended, yet the bus holds nothing new: the events another node sent while
            # the fan-out could not carry them (its broker down) are in the store.
            events = self.store.events(self.job_id, self.seq)
        for index, event in enumerate(events):
            if event.terminal:
                self.over = True
                events = events[: index + 1]
                break
        if events:
            self.seq = events[-1].seq
        elif self._ended():
            self.over = True  # nothing after the last event sent, and the job has ended
        self._idle = not events
        return events

    def _ended(self) -> bool:
        """Whether the job has ended, as last seen in the store or on the bus."""
        return (self._state is not None and self._state.terminal) or self.bus.ended(self.job_id)

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
