"""Turns on SQLite's one writer, with submissions first.

SQLite lets one connection write at a time, so a process's writers take turns on a lock
(a writer that found the database locked would sleep in SQLite's busy handler instead of
starting the moment the other commits). While a queue drains, the workers' transactions
hold that lock about half of the time, and a plain lock hands it to whichever waiter the
operating system wakes: a user's submission could wait behind several worker batches.
Here a caller that asks ``first`` (storing submitted jobs, which a client is waiting on)
takes the next turn ahead of the background writers already waiting, so it waits for the
transaction in progress at most. So that a stream of submissions cannot starve the
workers (whose writes finish jobs), a waiting background writer gets the turn after
:data:`FIRST_IN_A_ROW` first turns in a row.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

FIRST_IN_A_ROW = 4


class WriterTurns:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting = {True: 0, False: 0}  # callers waiting, by ``first``
        self._in_a_row = 0  # first turns given since the last background one

    @property
    def waiting(self) -> int:
        """Callers waiting for a turn now."""
        with self._cond:
            return sum(self._waiting.values())

    @contextlib.contextmanager
    def turn(self, *, first: bool = False) -> Iterator[None]:
        """Hold the writer's turn for the block; ``first``: ahead of the background writers."""
        with self._cond:
            self._waiting[first] += 1
            try:
                while self._held or self._yields(first):
                    self._cond.wait()
            finally:
                self._waiting[first] -= 1
            self._held = True
            self._in_a_row = self._in_a_row + 1 if first else 0
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()

    def _yields(self, first: bool) -> bool:
        """Whether a free turn goes to the other kind of waiter."""
        background_due = self._in_a_row >= FIRST_IN_A_ROW
        if first:
            return background_due and self._waiting[False] > 0
        return not background_due and self._waiting[True] > 0
