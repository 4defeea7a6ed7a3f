"""Job events to the watchers of this node: wakes the watchers of a job when it has news,
and hands them the news.

The store is the record; the bus holds a copy of the recent events of each job
(``since``), so that a watcher is served from memory instead of reading the store after
every event. Its events come from two places: those this node stored (``publish``, which
also hands them to the fan-out, when there is one) and those other nodes stored, which the
fan-out brings (``deliver``); both go into the same per-job logs. Several kernels may
write one store, and a fan-out message may be lost or late, so the bus vouches only for
what it holds without a gap: a job it never saw, a gap, events older than it keeps, or
everything before a fan-out outage (``lost``) it answers with None and the caller reads
the store. Each job has its own channel, so an event wakes only that job's watchers
(threads waiting in ``wait`` on the channel's condition, or asyncio watchers through
``subscribe``). It also remembers which jobs ended, which lets a long loop notice a
cancel without reading the store. A listener (``listen``) hears every new event of every
job, and None when the bus may have missed some (``lost``) or closes: the REST stream of
all of a tenant's jobs (``GET /v1/jobs:events``) is one such listener per app.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict, deque
from collections.abc import Callable

from eigen.kernel.fanout.port import Fanout
from eigen.models.job import JobEvent

Listener = Callable[[JobEvent | None], None]
"""Hears each new event of any job (on the publishing or fan-out thread: it must only hand
it on), and None when events may have been missed (``lost``) or the bus closes."""

_ENDED_MEMORY = 100_000  # ended job ids remembered (``ended``)
_ENDED_LOGS = 4096  # ended jobs whose events stay in memory, for watchers that come late
_LOG_LENGTH = 512  # events kept per job; a watcher further behind reads the store


class _Channel:
    """A job's watchers: threads waiting on its condition (made for the first of them:
    most watchers are asyncio callbacks) and callbacks."""

    __slots__ = ("_cond", "_lock", "callbacks", "watchers")

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._cond: threading.Condition | None = None
        self.watchers = 0
        self.callbacks: list[tuple[Callable[[], None], bool]] = []  # (callback, ends only)

    def condition(self) -> threading.Condition:
        if self._cond is None:
            self._cond = threading.Condition(self._lock)
        return self._cond

    def wake(self, ended: bool) -> None:
        if self._cond is not None:
            self._cond.notify_all()
        for callback, ends_only in self.callbacks:
            if ended or not ends_only:
                callback()


class EventBus:
    """The watchers' view of job events on this node; ``fanout``: how the events this node
    stores reach the other nodes, and theirs this one (None: one node)."""

    def __init__(self, fanout: Fanout | None = None) -> None:
        self.fanout = fanout
        self._lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}
        self._logs: dict[str, list[JobEvent]] = {}  # by job, in seq order
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._ended_logs: deque[str] = deque()
        self._closed = False
        self._epoch = 0  # counts ``lost``: a waiter that saw it change reads the store
        self._started = False
        self._listeners: tuple[Listener, ...] = ()

    def start(self) -> None:
        """Begin receiving the events other nodes publish (nothing without a fan-out)."""
        if self.fanout is None or self._started:
            return
        self._started = True
        self.fanout.start(self.deliver, self.lost)

    def publish(self, event: JobEvent) -> None:
        """Called once the event is stored (threads may publish a job's events out of
        order: the log stays sorted, and a gap sends readers to the store); the fan-out
        takes it to the other nodes."""
        self.deliver(event)
        if self.fanout is not None:
            self.fanout.publish([event])

    def deliver(self, event: JobEvent) -> None:
        """An event stored by this node or another one (the fan-out's thread calls this):
        into the job's log, and its watchers woken. Once is enough: a repeat is ignored."""
        fresh = True
        with self._lock:
            log = self._logs.setdefault(event.job_id, [])
            if not log or log[-1].seq < event.seq:
                log.append(event)
            else:
                index = bisect.bisect_left([e.seq for e in log], event.seq)
                fresh = index == len(log) or log[index].seq != event.seq
                if fresh:
                    log.insert(index, event)
            if len(log) > _LOG_LENGTH:
                del log[0]
            if event.terminal:
                self._end(event.job_id)
            channel = self._channels.get(event.job_id)
            if channel is not None:
                channel.wake(event.terminal)
            listeners = self._listeners if fresh else ()
        for listener in listeners:  # outside the lock: a listener may read the bus
            listener(event)

    def listen(self, listener: Listener) -> None:
        """Call ``listener`` with every new event of every job from now on (see
        :data:`Listener`)."""
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def unlisten(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = tuple(known for known in self._listeners if known != listener)

    def _tell_listeners_lost(self) -> None:
        for listener in self._listeners:
            listener(None)

    def lost(self) -> None:
        """Events may have been missed (the fan-out was cut off from its broker): forget
        what the bus held, so every reader goes to the store, and wake every watcher to
        read it. Which jobs ended stays known (an end is never undone)."""
        with self._lock:
            self._logs.clear()
            self._ended_logs.clear()
            self._epoch += 1
            for channel in self._channels.values():
                channel.wake(True)
        self._tell_listeners_lost()

    def _end(self, job_id: str) -> None:
        self._ended[job_id] = None
        if len(self._ended) > _ENDED_MEMORY:
            self._ended.popitem(last=False)
        self._ended_logs.append(job_id)
        while len(self._ended_logs) > _ENDED_LOGS:
            self._logs.pop(self._ended_logs.popleft(), None)

    def since(self, job_id: str, after_seq: int) -> list[JobEvent] | None:
        """The job's events after ``after_seq`` that this bus holds without a gap (``[]``:
        none published yet), or None when it cannot say: read the store."""
        with self._lock:
            log = self._logs.get(job_id)
            if not log or log[0].seq > after_seq + 1:
                return None
            found: list[JobEvent] = []
            expected = after_seq + 1
            for event in log:
                if event.seq <= after_seq:
                    continue
                if event.seq != expected:
                    return found or None  # a gap: what is missing is in the store
                found.append(event)
                expected += 1
            return found

    def final(self, job_id: str) -> JobEvent | None:
        """The job's terminal event, when this bus holds it."""
        with self._lock:
            log = self._logs.get(job_id)
            return log[-1] if log and log[-1].terminal else None

    def knows(self, job_id: str) -> bool:
        """Whether this bus holds events of the job (so the job exists)."""
        with self._lock:
            return job_id in self._logs

    def subscribe(self, job_id: str, callback: Callable[[], None], *, ends_only: bool = False) -> None:
        """Call ``callback`` (on the publishing thread, so it must only hand the news on,
        e.g. to an event loop) whenever the job has an event (``ends_only``: its terminal
        event), and when the bus closes."""
        with self._lock:
            channel = self._channels.get(job_id)
            if channel is None:
                channel = self._channels[job_id] = _Channel(self._lock)
            channel.callbacks.append((callback, ends_only))

    def unsubscribe(self, job_id: str, callback: Callable[[], None]) -> None:
        with self._lock:
            channel = self._channels.get(job_id)
            entry = next((e for e in channel.callbacks if e[0] is callback), None) if channel else None
            if channel is None or entry is None:
                return
            channel.callbacks.remove(entry)
            if channel.watchers == 0 and not channel.callbacks:
                del self._channels[job_id]

    def wait(self, job_id: str, after_seq: int, timeout: float) -> bool:
        """Block until the job has an event past ``after_seq`` or the bus forgot what it
        held (``lost``): True; or timeout: False.

        Events published before the wait began are in the store: callers read the store
        first, then wait with the last sequence number they saw.
        """
        with self._lock:
            channel = self._channels.get(job_id)
            if channel is None:
                channel = self._channels[job_id] = _Channel(self._lock)
            channel.watchers += 1
            epoch = self._epoch
            try:
                return channel.condition().wait_for(
                    lambda: self._epoch != epoch or self._has_news(job_id, after_seq), timeout
                )
            finally:
                channel.watchers -= 1
                if channel.watchers == 0 and not channel.callbacks:
                    del self._channels[job_id]

    def _has_news(self, job_id: str, after_seq: int) -> bool:
        if self._closed or job_id in self._ended:
            return True
        log = self._logs.get(job_id)
        return log is not None and bool(log) and log[-1].seq > after_seq

    def ended(self, job_id: str) -> bool:
        """True once this bus has had the job's terminal event (published or delivered)."""
        with self._lock:
            return job_id in self._ended

    def close(self) -> None:
        """Wake every watcher (a closed bus has news for all) and close the fan-out."""
        with self._lock:
            self._closed = True
            for channel in self._channels.values():
                channel.wake(True)
        self._tell_listeners_lost()
        if self.fanout is not None:
            self.fanout.close()

    @property
    def closed(self) -> bool:
        return self._closed
