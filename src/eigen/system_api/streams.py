"""Asyncio code and blocking iterators, both ways.

``from_thread``: a blocking iterator served to asyncio code. It runs on a thread of its
own, with the caller's context (request id, caller, trace), and hands its items to the
event loop in order; its errors are raised where they are awaited. When the consumer
stops early, the iterator is told through the ``active`` predicate it was given.

``Inbox``: items the event loop receives (a client's stream) handed to a blocking
consumer on another thread, as an iterator that ends when the inbox is closed."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_END = object()


async def from_thread(produce: Callable[[Callable[[], bool]], Iterator[T]], name: str) -> AsyncIterator[T]:
    """The items of ``produce(active)``; ``active()`` turns false once nobody listens."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue()
    listening = threading.Event()
    listening.set()

    def hand(item: Any, error: BaseException | None = None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens any more
            loop.call_soon_threadsafe(inbox.put_nowait, (item, error))

    def run() -> None:
        try:
            for item in produce(listening.is_set):
                hand(item)
                if not listening.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            hand(_END, exc)
        else:
            hand(_END)

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name=name, daemon=True).start()
    try:
        while True:
            item, error = await inbox.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        listening.clear()


class Inbox(Generic[T]):
    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[T] | None] = queue.SimpleQueue()

    def put(self, item: T) -> None:
        self._queue.put((item,))

    def close(self) -> None:
        """The end of the items (closing again changes nothing)."""
        self._queue.put(None)

    def __iter__(self) -> Iterator[T]:
        while (entry := self._queue.get()) is not None:
            yield entry[0]
