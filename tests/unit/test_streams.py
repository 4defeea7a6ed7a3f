"""A blocking iterator served to asyncio code (eigen.system_api.streams)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest

from eigen.observability import context as call_context
from eigen.system_api.streams import from_thread


def test_items_arrive_in_order_with_the_callers_context() -> None:
    def produce(active: Callable[[], bool]) -> Iterator[tuple[int, str]]:
        for number in range(5):
            yield number, call_context.current().request_id

    async def consume() -> list[tuple[int, str]]:
        call_context.activate(call_context.CallContext(request_id="req-1"))
        return [item async for item in from_thread(produce, "test-stream")]

    assert asyncio.run(consume()) == [(n, "req-1") for n in range(5)]


def test_an_error_of_the_iterator_is_raised_where_it_is_awaited() -> None:
    def produce(active: Callable[[], bool]) -> Iterator[int]:
        yield 1
        raise ValueError("broken")

    async def consume() -> list[int]:
        return [item async for item in from_thread(produce, "test-stream")]

    with pytest.raises(ValueError, match="broken"):
        asyncio.run(consume())


def test_a_consumer_that_stops_early_is_no_longer_listening() -> None:
    stopped = threading.Event()

    def produce(active: Callable[[], bool]) -> Iterator[int]:
        number = 0
        try:
            while active():
                yield number
                number += 1
        finally:  # told by active(), or closed after the item it was handing over
            stopped.set()

    async def consume() -> int:
        async for number in from_thread(produce, "test-stream"):
            if number == 3:
                return number
        return -1

    assert asyncio.run(consume()) == 3
    assert stopped.wait(5)
