"""A circuit breaker for one client's channel.

After ``failure_threshold`` consecutive failed calls that count (by default: the server
was unavailable) the breaker *opens*: calls fail at once with
:class:`eigen.errors.Unavailable` ("circuit open") instead of waiting on a dead server.
After ``reset_timeout`` seconds it is *half-open*: one probe call goes through while the
others still fail fast; the probe's success closes the breaker, its failure opens it again.

Any answer from the server, an error such as NotFound included, shows the server is up
and counts as a success. The breaker is thread-safe and never blocks, so the synchronous
and the asyncio client share this class. It does not retry anything: retries of the
idempotent calls are the channel's (see :mod:`eigen.client.channel`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from enum import StrEnum

from eigen.errors import Unavailable

log = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


def counts_unavailable(error: BaseException) -> bool:
    """The default failure test: the server could not be reached."""
    return isinstance(error, Unavailable)


class CircuitBreaker:
    """Closed -> open after repeated failures -> half-open after a cool-down -> closed."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 10.0,
        *,
        counts: Callable[[BaseException], bool] = counts_unavailable,
        clock: Callable[[], float] = time.monotonic,
        name: str = "eigen",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout <= 0:
            raise ValueError("reset_timeout must be positive")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self._counts = counts
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._listeners: list[Callable[[BreakerState, BreakerState], None]] = []

    # -- inspection ------------------------------------------------------------------------
    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down has passed reads half-open."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._cooled_down():
                return BreakerState.HALF_OPEN
            return self._state

    @property
    def failures(self) -> int:
        """Consecutive counted failures since the last success."""
        return self._failures

    def on_change(self, listener: Callable[[BreakerState, BreakerState], None]) -> None:
        """Call ``listener(old, new)`` on every state change (from the calling thread)."""
        self._listeners.append(listener)

    # -- the protocol around one call -------------------------------------------------------
    def before_call(self) -> None:
        """Let a call through, or raise Unavailable("circuit open") at once."""
        with self._lock:
            if self._state is BreakerState.CLOSED:
                return
            if self._state is BreakerState.OPEN:
                if not self._cooled_down():
                    wait = self.reset_timeout - (self._clock() - self._opened_at)
                    raise self._open_error(f"retry in {wait:.1f}s")
                change = self._set(BreakerState.HALF_OPEN)
            else:
                change = None
            if self._probing:
                raise self._open_error("a probe call is in flight")
            self._probing = True
        self._notify(change)

    def record_success(self) -> None:
        """The call got an answer from the server."""
        with self._lock:
            self._failures = 0
            self._probing = False
            change = self._set(BreakerState.CLOSED)
        self._notify(change)

    def record_failure(self, error: BaseException) -> None:
        """The call failed with ``error``; only errors that count move the breaker."""
        if not self._counts(error):
            self.record_success()
            return
        with self._lock:
            self._failures += 1
            change = None
            if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
                change = self._set(BreakerState.OPEN)
            self._probing = False
        self._notify(change)

    def record(self, error: BaseException | None) -> None:
        """``record_success()`` when ``error`` is None, else ``record_failure(error)``."""
        if error is None:
            self.record_success()
        else:
            self.record_failure(error)

    def release(self) -> None:
        """The call ended without an outcome (e.g. it was interrupted): free the probe slot."""
        with self._lock:
            self._probing = False

    def reset(self) -> None:
        """Close the breaker by hand."""
        self.record_success()

    # -- internals ---------------------------------------------------------------------------
    def _cooled_down(self) -> bool:
        return self._clock() - self._opened_at >= self.reset_timeout

    def _open_error(self, why: str) -> Unavailable:
        return Unavailable(
            f"circuit open: {self.name} failed {self._failures} times in a row; {why}",
            metadata={"breaker": self._state.value},
        )

    def _set(self, state: BreakerState) -> tuple[BreakerState, BreakerState] | None:
        old, self._state = self._state, state
        return (old, state) if old is not state else None

    def _notify(self, change: tuple[BreakerState, BreakerState] | None) -> None:
        if change is None:
            return
        log.info("circuit breaker %s: %s -> %s", self.name, change[0].value, change[1].value)
        for listener in list(self._listeners):
            try:
                listener(*change)
            except Exception:
                log.exception("circuit breaker listener failed")

    def __repr__(self) -> str:
        return f"CircuitBreaker(state={self.state.value}, failures={self._failures})"


class StreamSettlement:
    """Tells the breaker, exactly once, how a streaming call went: success once the server
    answered (headers or a message), failure on an error, release if neither happened."""

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker
        self.settled = False

    def success(self) -> None:
        if not self.settled:
            self.settled = True
            self.breaker.record_success()

    def failure(self, error: BaseException) -> None:
        self.settled = True
        self.breaker.record_failure(error)

    def release(self) -> None:
        if not self.settled:
            self.breaker.release()
