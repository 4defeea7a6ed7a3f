"""Between the threads that store job events and the broker: a bounded buffer and one
sender thread, so that publishing never waits on the network.

``put`` only appends (a worker never blocks on a broker that is slow or down); the sender
takes everything buffered at once and hands it to ``send`` in one call, so under load
many events share one message and one round trip. When the buffer is full the newest
events are dropped and counted (a lost message costs latency, never an event: the store
has it).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from eigen.models.job import JobEvent

log = logging.getLogger(__name__)

CAPACITY = 50_000  # events buffered while the sender is busy or the broker slow
BATCH = 1024  # events handed to one ``send``


class Outbox:
    def __init__(self, send: Callable[[list[JobEvent]], None], name: str, capacity: int = CAPACITY) -> None:
        self._send = send
        self._capacity = capacity
        self._events: deque[JobEvent] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._busy = False
        self.dropped = 0  # events never sent because the buffer was full
        self._dropping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, events: list[JobEvent]) -> None:
        with self._cond:
            if self._closing:
                return
            room = max(self._capacity - len(self._events), 0)
            if room < len(events):
                if not self._dropping:  # once per overflow, not once per event
                    log.warning("fan-out buffer full: job events dropped (watchers elsewhere read the store)")
                self._dropping = True
                self.dropped += len(events) - room
                events = events[:room]
            else:
                self._dropping = False
            self._events.extend(events)
            self._cond.notify()

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far was handed to ``send`` (True), or timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._events and not self._busy, timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Send what is buffered (for up to ``timeout``), then stop the sender."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._events or self._closing)
                if not self._events:
                    return  # closing, and nothing left
                batch = [self._events.popleft() for _ in range(min(BATCH, len(self._events)))]
                self._busy = True
            try:
                self._send(batch)
            except Exception:  # the sender must outlive any one batch
                log.exception("fan-out send failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
