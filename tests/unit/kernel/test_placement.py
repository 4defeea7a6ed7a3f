"""Placing waiting jobs (kernel/placement.py): the position comes from the dispatch, the
estimated start from the entries ahead at the device's measured pace per slot, the reason
from the order (priority class; under fair share, how far the tenant's own backlog pushed
the job back)."""

from __future__ import annotations

import pytest

from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Stage
from eigen.kernel.fair_order import FairOrder
from eigen.kernel.placement import Placements
from eigen.kernel.queueing import entry_of
from eigen.kernel.run_times import RunTimes
from eigen.models.job import Job
from eigen.models.placement import QueueStage
from eigen.models.state import JobState
from tests.unit.kernel.conftest import job_request

NOW = 1_800_000_000.0
DEVICE = "sim:aer"


def queued(job_id: str, tenant: str, *, priority: int = 50, state: JobState = JobState.QUEUED) -> Job:
    request = job_request(target=DEVICE, priority=priority)
    return Job(job_id, request, state, created_at=NOW, updated_at=NOW, tenant=tenant)


def placements(dispatch: MemoryDispatch, run_s: float = 2.0, execute_workers: int = 2) -> Placements:
    run_times = RunTimes(run_s)
    return Placements(
        dispatch,
        compile_workers=1,
        execute_workers=execute_workers,
        run_times=run_times,
        compile_times=RunTimes(0.5),
        clock=lambda: NOW,
    )


def test_run_times_start_at_the_default_and_follow_recent_runs() -> None:
    times = RunTimes(1.0)
    assert times.of(DEVICE) == 1.0
    times.observe(DEVICE, 3.0)
    assert times.of(DEVICE) == 3.0  # the first run is the mean
    times.observe(DEVICE, 1.0)
    assert times.of(DEVICE) == pytest.approx(2.6)  # each new run weighs 0.2
    assert times.of("sim:stabilizer") == 1.0


def test_fair_share_names_the_push_back_and_the_estimate_follows_the_slots() -> None:
    order = FairOrder(policy="fair_share", cost_s=1.0, now=lambda: NOW)
    dispatch = MemoryDispatch(order=order, device_capacity={DEVICE: 1})
    backlog = [queued(f"a{n}", "A") for n in range(4)]
    late = queued("b", "B")
    dispatch.enqueue(Stage.EXECUTE, [entry_of(job) for job in [*backlog, late]])
    placed = placements(dispatch, run_s=2.0)
    last = placed.of(backlog[-1])
    assert last is not None
    assert (last.stage, last.device, last.position, last.slots) == (QueueStage.EXECUTE, DEVICE, 5, 1)
    assert last.estimated_start == pytest.approx(NOW + 4 * 2.0)  # four ahead, one slot, 2 s each
    assert "fair share: tenant A's earlier jobs put its start 3.0 s back" in last.reason
    other = placed.of(late)
    assert other is not None and other.position == 2  # right after A's first
    assert "fair share" not in other.reason and "priority 50 (normal)" in other.reason


def test_without_a_capacity_the_workers_are_the_slots() -> None:
    dispatch = MemoryDispatch()
    jobs = [queued(f"j{n}", "A") for n in range(5)]
    dispatch.enqueue(Stage.EXECUTE, [entry_of(job) for job in jobs])
    place = placements(dispatch, run_s=2.0, execute_workers=2).of(jobs[-1])
    assert place is not None and place.slots == 0
    assert place.estimated_start == pytest.approx(NOW + 4 / 2 * 2.0)
    assert "4 ahead on sim:aer;" in place.reason + ";" and "capacity" not in place.reason


def test_a_pending_job_waits_to_compile_and_others_have_no_place() -> None:
    dispatch = MemoryDispatch()
    pending = [queued(f"p{n}", "A", state=JobState.PENDING) for n in range(3)]
    dispatch.enqueue(Stage.COMPILE, [entry_of(job) for job in pending])
    placed = placements(dispatch)
    place = placed.of(pending[2])
    assert place is not None and place.stage is QueueStage.COMPILE and place.position == 3
    assert place.estimated_start == pytest.approx(NOW + 2 * 0.5) and "2 ahead to compile" in place.reason
    assert placed.of(queued("p0", "A", state=JobState.RUNNING)) is None
    assert placed.of(queued("p0", "A", state=JobState.DONE)) is None
    waiting = queued("p1", "A", state=JobState.PENDING)
    waiting.progress = {"phase": "WAITING", "waiting_for": ["p0"]}
    assert placed.of(waiting) is None  # waits for its dependencies, not on a queue
    assert placed.of(queued("gone", "A")) is None  # not on the execute queue


def test_fair_share_counts_each_devices_measured_run_time() -> None:
    """A tenant's jobs on a slow device push its later jobs back by that device's run time."""
    order = FairOrder(policy="fair_share", cost_s=1.0, now=lambda: NOW)
    assert order.run_times is not None
    order.run_times.observe("qpu:slow", 30.0)
    dispatch = MemoryDispatch(order=order)
    slow = [queued(f"s{n}", "A") for n in range(2)]
    slow = [Job(j.id, job_request(target="qpu:slow"), j.state, NOW, NOW, tenant="A") for j in slow]
    dispatch.enqueue(Stage.EXECUTE, [entry_of(job) for job in slow])
    fast = queued("f", "B")
    dispatch.enqueue(Stage.EXECUTE, [entry_of(fast)])
    later = queued("f2", "A")  # A's virtual time is 60 s ahead after its two slow jobs
    dispatch.enqueue(Stage.EXECUTE, [entry_of(later)])
    assert order.start_of(dispatch.standing(Stage.EXECUTE, entry_of(later)).rank, 50) == pytest.approx(
        NOW + 60
    )  # type: ignore[union-attr]
    assert order.start_of(dispatch.standing(Stage.EXECUTE, entry_of(fast)).rank, 50) == pytest.approx(NOW)  # type: ignore[union-attr]
