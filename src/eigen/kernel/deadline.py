"""Calls with a deadline: the caller stops waiting, the call is abandoned (never killed).

Each calling thread has one helper daemon thread that runs its calls, reused from call
to call: a compile on every job would otherwise start a thread per job. A call that
runs past its deadline keeps its helper until it ends (its result is dropped), and the
caller gets a new helper for its next call. Helpers are daemon threads, so an abandoned
call never holds up the process's exit.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[Future[Any], contextvars.Context, Callable[[], Any]]


class _Helper:
    def __init__(self, name: str) -> None:
        self.inbox: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while (call := self.inbox.get()) is not None:
            future, context, function = call
            try:
                future.set_result(context.run(function))
            except BaseException as exc:
                future.set_exception(exc)


_helpers = threading.local()


def call_with_deadline(function: Callable[[], T], timeout_s: float, name: str = "eigen-call") -> T:
    """``function()`` on this thread's helper, with this thread's context (call context
    and span); raises ``concurrent.futures.TimeoutError`` after ``timeout_s``."""
    helper: _Helper | None = getattr(_helpers, "helper", None)
    if helper is None:
        helper = _helpers.helper = _Helper(name)
    future: Future[T] = Future()
    helper.inbox.put((future, contextvars.copy_context(), function))
    try:
        return future.result(timeout_s)
    except TimeoutError:
        helper.inbox.put(None)  # it ends once the abandoned call returns
        _helpers.helper = None
        raise
