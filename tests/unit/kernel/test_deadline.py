"""Calls with a deadline: results, errors, context, abandonment, helper reuse."""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import TimeoutError as FutureTimeout

import pytest

from eigen.kernel.deadline import call_with_deadline

_value: contextvars.ContextVar[str] = contextvars.ContextVar("value", default="unset")


def test_returns_the_result_and_raises_the_error() -> None:
    assert call_with_deadline(lambda: 42, 5.0) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, 5.0)


def test_the_call_sees_the_callers_context() -> None:
    token = _value.set("caller's")
    try:
        assert call_with_deadline(_value.get, 5.0) == "caller's"
    finally:
        _value.reset(token)


def test_one_helper_thread_serves_the_calls_of_a_thread() -> None:
    helpers = {call_with_deadline(threading.get_ident, 5.0) for _ in range(20)}
    assert len(helpers) == 1 and threading.get_ident() not in helpers


def test_a_call_past_its_deadline_is_abandoned_and_the_next_gets_a_new_helper() -> None:
    release = threading.Event()
    finished = threading.Event()

    def slow() -> int:
        release.wait(10.0)
        finished.set()
        return threading.get_ident()

    first = call_with_deadline(threading.get_ident, 5.0)
    with pytest.raises(FutureTimeout):
        call_with_deadline(slow, 0.05)
    assert not finished.is_set()  # still running: abandoned, not killed
    fresh = call_with_deadline(threading.get_ident, 5.0)  # not queued behind the slow call
    assert fresh != first
    release.set()
    assert finished.wait(5.0)
