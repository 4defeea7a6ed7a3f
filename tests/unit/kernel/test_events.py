"""The event bus: what it hands watchers from memory, and when it sends them to the store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from eigen.kernel import events as events_module
from eigen.kernel.events import EventBus
from eigen.models.job import JobEvent
from eigen.models.state import JobState


def event(seq: int, job_id: str = "j1", state: JobState = JobState.RUNNING) -> JobEvent:
    return JobEvent(job_id, seq, state, "state", time.time())


def seqs(found: list[JobEvent] | None) -> list[int] | None:
    return None if found is None else [e.seq for e in found]


def test_a_job_it_never_saw_is_read_from_the_store() -> None:
    bus = EventBus()
    assert bus.since("unknown", 0) is None and not bus.knows("unknown")
    bus.publish(event(1))
    assert bus.knows("j1") and bus.final("j1") is None
    bus.publish(event(2, state=JobState.DONE))
    final = bus.final("j1")
    assert final is not None and final.seq == 2


def test_events_after_a_sequence_number() -> None:
    bus = EventBus()
    for seq in (1, 2, 3):
        bus.publish(event(seq))
    assert seqs(bus.since("j1", 0)) == [1, 2, 3]
    assert seqs(bus.since("j1", 2)) == [3]
    assert bus.since("j1", 3) == []  # nothing newer yet: wait


def test_events_published_out_of_order_are_kept_in_order() -> None:
    bus = EventBus()
    bus.publish(event(1))
    bus.publish(event(3))  # another thread's event 2 is stored but not yet published
    assert seqs(bus.since("j1", 0)) == [1]  # the gap: the rest comes later or from the store
    assert bus.since("j1", 1) is None
    bus.publish(event(2))
    bus.publish(event(2))  # published twice: kept once
    assert seqs(bus.since("j1", 0)) == [1, 2, 3]


def test_a_bus_that_started_late_sends_old_readers_to_the_store() -> None:
    bus = EventBus()  # e.g. after a restart: the job's first events are only in the store
    bus.publish(event(5))
    assert bus.since("j1", 0) is None
    assert seqs(bus.since("j1", 4)) == [5]


def test_a_long_log_keeps_its_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "_LOG_LENGTH", 3)
    bus = EventBus()
    for seq in range(1, 6):
        bus.publish(event(seq))
    assert bus.since("j1", 0) is None
    assert seqs(bus.since("j1", 2)) == [3, 4, 5]


def test_ended_jobs_are_remembered_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events_module, "_ENDED_LOGS", 2)
    bus = EventBus()
    for job_id in ("a", "b", "c"):
        bus.publish(event(1, job_id, JobState.PENDING))
        bus.publish(event(2, job_id, JobState.CANCELLED))
    assert bus.since("a", 0) is None  # its log was dropped: the store has it
    assert seqs(bus.since("b", 0)) == [1, 2] and seqs(bus.since("c", 1)) == [2]
    assert all(bus.ended(job_id) for job_id in ("a", "b", "c"))


def test_wait_wakes_on_news_and_times_out_without() -> None:
    bus = EventBus()
    bus.publish(event(1))
    assert not bus.wait("j1", 1, timeout=0.05)
    assert bus.wait("j1", 0, timeout=0.05)  # already newer than 0

    woke: list[bool] = []
    watcher = threading.Thread(target=lambda: woke.append(bus.wait("j1", 1, timeout=5.0)))
    watcher.start()
    time.sleep(0.05)
    bus.publish(event(2))
    watcher.join(timeout=5.0)
    assert woke == [True]


def test_a_subscriber_for_the_end_hears_only_the_terminal_event_and_the_close() -> None:
    bus = EventBus()
    every: list[int] = []
    ends: list[int] = []
    bus.subscribe("j1", lambda: every.append(1))
    on_end = lambda: ends.append(1)  # noqa: E731 - one identity to unsubscribe with
    bus.subscribe("j1", on_end, ends_only=True)
    bus.publish(event(1, state=JobState.PENDING))
    bus.publish(event(2, state=JobState.RUNNING))
    assert (len(every), len(ends)) == (2, 0)
    bus.publish(event(3, state=JobState.DONE))
    assert (len(every), len(ends)) == (3, 1)
    bus.subscribe("j2", on_end, ends_only=True)
    bus.close()  # a closing bus wakes everyone, so no waiter waits for nothing
    assert (len(every), len(ends)) == (4, 3)
    bus.unsubscribe("j1", on_end)
    bus.unsubscribe("j1", on_end)  # twice: nothing to remove, no error


class RecordingFanout:
    """A fan-out double: records what the bus publishes and hands it a deliver function."""

    def __init__(self) -> None:
        self.published: list[JobEvent] = []
        self.deliver: Callable[[JobEvent], None] | None = None
        self.on_lost: Callable[[], None] | None = None
        self.closed = False

    def start(self, deliver: Callable[[JobEvent], None], lost: Callable[[], None]) -> None:
        self.deliver = deliver
        self.on_lost = lost

    def publish(self, events: list[JobEvent]) -> None:
        self.published.extend(events)

    def problem(self) -> str | None:
        return None

    def close(self) -> None:
        self.closed = True


def test_the_bus_hands_what_it_publishes_to_the_fanout_and_not_what_it_is_delivered() -> None:
    fanout = RecordingFanout()
    bus = EventBus(fanout)
    bus.start()
    assert fanout.deliver is not None and fanout.on_lost is not None
    bus.publish(event(1))
    fanout.deliver(event(2))  # another node's event of the same job
    assert seqs(fanout.published) == [1]  # a delivered event is not sent back out
    assert seqs(bus.since("j1", 0)) == [1, 2]
    bus.close()
    assert fanout.closed


def test_an_event_from_another_node_wakes_a_waiting_thread_and_a_subscriber() -> None:
    fanout = RecordingFanout()
    bus = EventBus(fanout)
    bus.start()
    assert fanout.deliver is not None
    heard: list[int] = []
    bus.subscribe("j1", lambda: heard.append(1), ends_only=True)
    woke: list[bool] = []
    watcher = threading.Thread(target=lambda: woke.append(bus.wait("j1", 0, timeout=5.0)))
    watcher.start()
    fanout.deliver(event(1, state=JobState.DONE))
    watcher.join(timeout=5.0)
    assert woke == [True] and heard == [1] and bus.ended("j1")


def test_after_lost_messages_the_bus_sends_readers_to_the_store_and_wakes_its_waiters() -> None:
    fanout = RecordingFanout()
    bus = EventBus(fanout)
    bus.start()
    bus.publish(event(1))
    bus.publish(event(1, "j2", JobState.DONE))
    woke: list[bool] = []
    watcher = threading.Thread(target=lambda: woke.append(bus.wait("j1", 1, timeout=5.0)))
    watcher.start()
    heard: list[int] = []
    bus.subscribe("j1", lambda: heard.append(1), ends_only=True)
    assert fanout.on_lost is not None
    fanout.on_lost()  # e.g. the broker restarted: j1's later events may never come
    watcher.join(timeout=5.0)
    assert woke == [True] and heard == [1]
    assert bus.since("j1", 0) is None and not bus.knows("j1")  # the store says what happened
    assert bus.ended("j2")  # an end is never undone
    bus.publish(event(3))
    assert bus.since("j1", 1) is None and seqs(bus.since("j1", 2)) == [3]


def test_a_bus_without_a_fanout_starts_and_closes() -> None:
    bus = EventBus()
    bus.start()
    bus.publish(event(1))
    bus.close()
    assert bus.closed and seqs(bus.since("j1", 0)) == [1]
