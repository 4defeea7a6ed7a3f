"""Per-device queues with a capacity in the memory dispatch (and its scheduler): a job
waiting for a busy device never holds back another device's job (no head-of-line blocking);
``ack`` and ``release`` free the slot."""

from __future__ import annotations

import threading
import time

from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Entry, Stage
from eigen.kernel.scheduler import PriorityScheduler

SLOW, FAST = "qpu:slow", "sim:fast"


def backlog(dispatch: MemoryDispatch, n: int = 20) -> None:
    """``n`` slow-device jobs, ahead of anything enqueued after them."""
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"slow-{k}", 90, SLOW) for k in range(n)])


def test_a_busy_devices_backlog_does_not_block_another_device() -> None:
    dispatch = MemoryDispatch(device_capacity={SLOW: 1})
    backlog(dispatch)
    dispatch.enqueue(Stage.EXECUTE, [Entry("fast", 10, FAST)])  # lower priority, later
    running = dispatch.claim(Stage.EXECUTE, 1, 0)
    assert [c.job_id for c in running] == ["slow-0"]
    started = time.perf_counter()
    other = dispatch.claim(Stage.EXECUTE, 1, 1.0)
    assert [c.job_id for c in other] == ["fast"] and time.perf_counter() - started < 0.1
    assert dispatch.claim(Stage.EXECUTE, 1, 0.05) == []  # the slow device is busy: nothing else
    dispatch.ack(running)
    assert [c.job_id for c in dispatch.claim(Stage.EXECUTE, 1, 0)] == ["slow-1"]


def test_a_claim_waiting_for_a_busy_device_wakes_when_its_slot_frees() -> None:
    dispatch = MemoryDispatch(device_capacity={SLOW: 1})
    backlog(dispatch, 2)
    running = dispatch.claim(Stage.EXECUTE, 1, 0)
    got: list[str] = []
    waiter = threading.Thread(
        target=lambda: got.extend(c.job_id for c in dispatch.claim(Stage.EXECUTE, 1, 10))
    )
    waiter.start()
    time.sleep(0.1)  # the waiter is waiting (it shows no sign)
    assert got == []
    freed = time.perf_counter()
    dispatch.ack(running)
    waiter.join(5)
    assert got == ["slow-1"] and time.perf_counter() - freed < 0.5


def test_release_frees_the_slot_and_an_entry_acked_twice_frees_one() -> None:
    dispatch = MemoryDispatch(device_capacity={SLOW: 2})
    backlog(dispatch, 4)
    first, second = dispatch.claim(Stage.EXECUTE, 1, 0), dispatch.claim(Stage.EXECUTE, 1, 0)
    assert dispatch.claim(Stage.EXECUTE, 1, 0) == []
    dispatch.release(first)
    assert [c.job_id for c in dispatch.claim(Stage.EXECUTE, 1, 0)] == ["slow-0"]  # back, in its place
    dispatch.ack(second)
    dispatch.ack(second)  # once only: one slot
    assert [c.job_id for c in dispatch.claim(Stage.EXECUTE, 1, 0)] == ["slow-2"]
    assert dispatch.claim(Stage.EXECUTE, 1, 0) == []


def test_a_batch_takes_no_more_than_the_devices_free_slots() -> None:
    dispatch = MemoryDispatch(device_capacity={SLOW: 2})
    backlog(dispatch, 5)
    dispatch.enqueue(Stage.EXECUTE, [Entry("fast", 10, FAST)])
    batch = dispatch.claim(Stage.EXECUTE, 8, 0, together=lambda _: True)
    assert [c.job_id for c in batch] == ["slow-0", "slow-1", "fast"]


def test_devices_without_a_capacity_and_the_compile_stage_are_unlimited() -> None:
    dispatch = MemoryDispatch(device_capacity={SLOW: 1, FAST: 0})
    dispatch.enqueue(Stage.EXECUTE, [Entry(f"f-{k}", 50, FAST) for k in range(3)])
    dispatch.enqueue(Stage.COMPILE, [Entry(f"c-{k}", 50, SLOW) for k in range(3)])
    assert len(dispatch.claim(Stage.EXECUTE, 8, 0, together=lambda _: True)) == 3
    assert len(dispatch.claim(Stage.COMPILE, 8, 0, together=lambda _: True)) == 3


def test_the_scheduler_takes_the_best_head_of_the_free_groups() -> None:
    scheduler: PriorityScheduler[str] = PriorityScheduler(group=lambda item: item[0], slots={"a": 1})
    for item, priority in (("a1", 90), ("a2", 80), ("b1", 50), ("b2", 70)):
        scheduler.push(item, priority)
    assert scheduler.pop_batch(1, 0) == ["a1"]
    assert scheduler.out("a") == 1
    assert [scheduler.pop_batch(1, 0)[0] for _ in range(2)] == ["b2", "b1"]
    assert scheduler.pop_batch(1, 0.01) == [] and len(scheduler) == 1
    scheduler.done("a1")
    assert scheduler.pop_batch(1, 0) == ["a2"]
