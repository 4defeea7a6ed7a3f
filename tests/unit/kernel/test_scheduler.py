"""The priority scheduler: order, batches and waiting."""

from __future__ import annotations

import threading
import time

from eigen.kernel.scheduler import PriorityScheduler


def test_highest_priority_first_then_first_come() -> None:
    scheduler: PriorityScheduler[str] = PriorityScheduler()
    for item, priority in (("a", 10), ("b", 90), ("c", 10), ("d", 90)):
        scheduler.push(item, priority)
    assert [scheduler.pop_batch(1, 0)[0] for _ in range(4)] == ["b", "d", "a", "c"]
    assert len(scheduler) == 0


def test_a_batch_takes_items_in_order_while_they_go_together() -> None:
    scheduler: PriorityScheduler[str] = PriorityScheduler()
    for item in ("s1", "s2", "big", "s3"):
        scheduler.push(item, 50)
    small = lambda item: item.startswith("s")  # noqa: E731
    assert scheduler.pop_batch(8, 0, small) == ["s1", "s2"]  # stops at the first that does not
    assert scheduler.pop_batch(8, 0, small) == ["big"]  # alone: it does not go with others
    assert scheduler.pop_batch(8, 0, small) == ["s3"]


def test_a_batch_stops_at_its_limit_and_takes_one_by_default() -> None:
    scheduler: PriorityScheduler[int] = PriorityScheduler()
    for item in range(5):
        scheduler.push(item, 50)
    assert scheduler.pop_batch(3, 0, lambda _: True) == [0, 1, 2]
    assert scheduler.pop_batch(3, 0) == [3]


def test_pop_batch_waits_for_an_item_or_gives_up() -> None:
    scheduler: PriorityScheduler[str] = PriorityScheduler()
    started = time.monotonic()
    assert scheduler.pop_batch(4, 0.05) == []
    assert time.monotonic() - started >= 0.04
    threading.Timer(0.05, scheduler.push, ("late", 50)).start()
    assert scheduler.pop_batch(4, 5.0) == ["late"]


def test_close_wakes_a_waiting_pop() -> None:
    scheduler: PriorityScheduler[str] = PriorityScheduler()
    threading.Timer(0.05, scheduler.close).start()
    started = time.monotonic()
    assert scheduler.pop_batch(4, 5.0) == []
    assert time.monotonic() - started < 4.0
