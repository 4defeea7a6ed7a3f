"""Turns on SQLite's one writer, with submissions first.

SQLite lets one connection write at a time, so a process's writers take turns on a lock
(a writer that found the database locked would sleep in SQLite's busy handler instead of
starting the moment the other commits). While a queue drains, the workers' transactions
hold that lock about half of the time, and a plain lock hands it to whichever waiter the
operating system wakes: a user's submission could wait behind several worker batches.
Here a caller that asks ``first`` (the intake storing submitted jobs, which a client is
waiting on) takes the next turn ahead of every background writer already waiting, so it
waits for the transaction in progress at most.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class WriterTurns:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._first_waiting = 0  # callers with ``first`` waiting for a turn
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Callers waiting for a turn now."""
        with self._cond:
            return self._waiting

    @contextlib.contextmanager
    def turn(self, *, first: bool = False) -> Iterator[None]:
        """Hold the writer's turn for the block; ``first``: ahead of the other waiters."""
        with self._cond:
            self._first_waiting += first
            self._waiting += 1
            try:
                while self._held or (not first and self._first_waiting):
                    self._cond.wait()
            finally:
                self._first_waiting -= first
                self._waiting -= 1
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()
