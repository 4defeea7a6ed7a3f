"""The circuit breaker: opens after repeated UNAVAILABLE, fails fast, one probe when half-open."""

from __future__ import annotations

import pytest

from eigen.client import BreakerState, CircuitBreaker
from eigen.errors import DeadlineExceeded, NotFound, Unavailable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def call(breaker: CircuitBreaker, error: Exception | None = None) -> None:
    """One guarded call that ends with ``error`` (None: success)."""
    breaker.before_call()
    breaker.record(error)


def test_opens_after_the_threshold_and_fails_fast() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=5.0, clock=clock)
    for _ in range(2):
        call(breaker, Unavailable("down"))
    assert breaker.state is BreakerState.CLOSED and breaker.failures == 2
    call(breaker, Unavailable("down"))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(Unavailable, match="circuit open") as caught:
        breaker.before_call()
    assert caught.value.code == "EIGEN_UNAVAILABLE"


def test_other_errors_do_not_count_and_reset_the_streak() -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=Clock())
    call(breaker, Unavailable("down"))
    call(breaker, NotFound("no such job"))  # the server answered
    call(breaker, Unavailable("down"))
    call(breaker, DeadlineExceeded("slow"))  # not counted by default
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == 0


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5.0, clock=clock)
    call(breaker, Unavailable("down"))
    clock.now += 4.9
    with pytest.raises(Unavailable):
        breaker.before_call()
    clock.now += 0.2
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # the probe
    with pytest.raises(Unavailable, match="probe"):
        breaker.before_call()  # others still fail fast meanwhile
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    call(breaker)


def test_a_failed_probe_opens_again_for_a_full_cool_down() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=5.0, clock=clock)
    call(breaker, Unavailable("down"))
    call(breaker, Unavailable("down"))
    clock.now += 5.0
    call(breaker, Unavailable("still down"))
    assert breaker.state is BreakerState.OPEN
    clock.now += 4.0
    with pytest.raises(Unavailable):
        breaker.before_call()
    clock.now += 1.0
    call(breaker)
    assert breaker.state is BreakerState.CLOSED


def test_released_probe_frees_the_slot_and_listeners_see_changes() -> None:
    clock = Clock()
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1.0, clock=clock)
    breaker.on_change(lambda old, new: changes.append((old, new)))
    call(breaker, Unavailable("down"))
    clock.now += 1.0
    breaker.before_call()
    breaker.release()  # e.g. the caller was interrupted
    breaker.before_call()
    breaker.record_success()
    assert changes == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]


def test_custom_failure_test_and_validation() -> None:
    breaker = CircuitBreaker(
        failure_threshold=1, counts=lambda e: isinstance(e, DeadlineExceeded), clock=Clock()
    )
    call(breaker, Unavailable("down"))
    assert breaker.state is BreakerState.CLOSED
    call(breaker, DeadlineExceeded("slow"))
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker(reset_timeout=0)
