"""Result retention: the cutoff, and the periodic sweeper; the queue log's retention."""

from __future__ import annotations

import threading
import time

import pytest

from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.postgres import PostgresDispatch
from eigen.kernel.store.memory import MemoryJobStore
from eigen.kernel.store.retention import (
    QUEUE_LOG_KEEP_S,
    SECONDS_PER_DAY,
    QueueLog,
    RetentionSweeper,
    prune_queue_log,
    retention_cutoff,
)


class RecordingStore(MemoryJobStore):
    """A memory store that records each expiry cutoff (and can fail the first ones)."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.cutoffs: list[float] = []
        self.failures = failures
        self.called = threading.Event()

    def expire_results(self, older_than: float) -> int:
        self.cutoffs.append(older_than)
        if len(self.cutoffs) >= 2 or not self.failures:
            self.called.set()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database went away")
        return super().expire_results(older_than)


@pytest.mark.parametrize("days", [None, 0, 0.0])
def test_no_cutoff_when_retention_is_off(days: float | None) -> None:
    assert retention_cutoff(days, 1_000_000.0) is None


def test_cutoff_is_the_age_before_now() -> None:
    assert retention_cutoff(2, 1_000_000.0) == 1_000_000.0 - 2 * SECONDS_PER_DAY
    assert retention_cutoff(0.5, 100_000.0) == 100_000.0 - 43_200.0


def test_sweeper_expires_with_the_configured_age() -> None:
    store = RecordingStore()
    sweeper = RetentionSweeper(store, retention_days=3, interval_s=60).start()
    try:
        assert store.called.wait(5)
    finally:
        sweeper.stop()
    assert len(store.cutoffs) == 1
    assert store.cutoffs[0] == pytest.approx(time.time() - 3 * SECONDS_PER_DAY, abs=5)
    assert sweeper.sweeps == 1


def test_sweeper_keeps_going_after_an_error() -> None:
    store = RecordingStore(failures=1)
    sweeper = RetentionSweeper(store, retention_days=1, interval_s=0.01).start()
    try:
        assert store.called.wait(5)
    finally:
        sweeper.stop()
    assert len(store.cutoffs) >= 2


def test_sweeper_does_nothing_when_retention_is_off() -> None:
    store = RecordingStore()
    sweeper = RetentionSweeper(store, retention_days=None, interval_s=0.01).start()
    time.sleep(0.05)
    sweeper.stop()
    assert store.cutoffs == [] and sweeper.sweeps == 0


def test_sweeper_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        RetentionSweeper(MemoryJobStore(), 1, interval_s=0)


class RecordingQueueLog:
    """A queue log that records how old the rows it is asked to prune are."""

    def __init__(self, pruned: int = 0) -> None:
        self.asked: list[float] = []
        self.pruned = pruned

    def prune_log(self, older_than_s: float) -> int:
        self.asked.append(older_than_s)
        return self.pruned


def test_the_queue_log_keeps_a_day() -> None:
    queue = RecordingQueueLog(pruned=5)
    assert prune_queue_log(queue) == 5
    assert queue.asked == [QUEUE_LOG_KEEP_S] and QUEUE_LOG_KEEP_S == SECONDS_PER_DAY
    with pytest.raises(ValueError, match="keep_s"):
        prune_queue_log(queue, keep_s=0)


def test_only_a_dispatch_that_logs_its_entries_has_a_queue_log() -> None:
    assert issubclass(PostgresDispatch, QueueLog)  # what the kernel registers the duty for
    assert not issubclass(MemoryDispatch, QueueLog)
    assert isinstance(RecordingQueueLog(), QueueLog)
