"""SQLite's writer turns: a submission's turn comes before the workers' waiting writes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from eigen.kernel.store.turns import FIRST_IN_A_ROW, WriterTurns


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``condition`` holds (a waiter blocked in a turn signals nothing else)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def waiting(turns: WriterTurns, count: int) -> Callable[[], bool]:
    return lambda: turns.waiting == count


def test_a_first_caller_goes_before_writers_that_waited_longer() -> None:
    turns = WriterTurns()
    order: list[str] = []
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn():
            held.set()
            release.wait(10)
            order.append("holder")

    def write(name: str, first: bool) -> None:
        with turns.turn(first=first):
            order.append(name)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    background = [threading.Thread(target=write, args=(f"worker-{i}", False)) for i in range(3)]
    for count, thread in enumerate(background, start=1):
        thread.start()
        _wait_for(waiting(turns, count))
    submission = threading.Thread(target=write, args=("submission", True))
    submission.start()
    _wait_for(waiting(turns, 4))
    release.set()
    for thread in (holder, submission, *background):
        thread.join(10)
    assert order[:2] == ["holder", "submission"]
    assert sorted(order[2:]) == ["worker-0", "worker-1", "worker-2"]


def test_turns_exclude_each_other_and_end_on_an_error() -> None:
    turns = WriterTurns()
    inside = 0
    most = 0
    lock = threading.Lock()

    def write(first: bool) -> None:
        nonlocal inside, most
        for _ in range(200):
            with turns.turn(first=first):
                with lock:
                    inside += 1
                    most = max(most, inside)
                with lock:
                    inside -= 1

    threads = [threading.Thread(target=write, args=(i % 2 == 0,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert most == 1
    try:
        with turns.turn(first=True):
            raise RuntimeError("the transaction failed")
    except RuntimeError:
        pass
    with turns.turn():  # the failed turn was given back
        assert turns.waiting == 0


def test_a_stream_of_first_turns_lets_a_waiting_worker_write() -> None:
    turns = WriterTurns()
    order: list[str] = []
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with turns.turn(first=True):
            held.set()
            release.wait(10)

    def write(name: str, first: bool) -> None:
        with turns.turn(first=first):
            order.append(name)

    for _ in range(FIRST_IN_A_ROW - 1):  # first turns in a row before the one held below
        with turns.turn(first=True):
            pass
    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    worker = threading.Thread(target=write, args=("worker", False))
    worker.start()
    _wait_for(waiting(turns, 1))
    submission = threading.Thread(target=write, args=("submission", True))
    submission.start()
    _wait_for(waiting(turns, 2))
    release.set()
    for thread in (holder, worker, submission):
        thread.join(10)
    assert order == ["worker", "submission"]
