"""Placing a waiting job: its position on its queue, when it should start, and why.

The position comes from the dispatch (:meth:`~eigen.kernel.dispatch.port.Dispatch.standing`:
the entries ranked before the job's on its queue, the compile queue or its device's).
The estimated start assumes the queue drains at its slots' pace: ``ahead / slots`` runs of
the stage's mean time on this node, smoothed over its recent runs
(:class:`~eigen.kernel.run_times.RunTimes`; ``scheduling_job_cost_s`` until a run was
seen), so a job that is next starts about now.
The reason says what the order counted: the priority and its class, under fair share
how far the tenant's own earlier jobs pushed this one's start back, and whether its device
is held for a session (then it starts no earlier than the hold's end).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from eigen.kernel.dependencies import is_waiting
from eigen.kernel.dispatch.port import Dispatch, Stage
from eigen.kernel.queueing import entry_of, stage_for
from eigen.kernel.run_times import RunTimes
from eigen.kernel.workers import SESSION_WORKERS
from eigen.models.job import Job
from eigen.models.placement import Placement, QueueStage
from eigen.models.state import JobState

CLASSES = {80: "high", 50: "normal", 20: "low"}  # JobSpec scheduling.queue's classes
_PUSHED_BACK_S = 0.05  # a fair-share delay shorter than this is not worth saying


_STAGES = {
    JobState.PENDING: (Stage.COMPILE, QueueStage.COMPILE),
    JobState.QUEUED: (Stage.EXECUTE, QueueStage.EXECUTE),
}


class Placements:
    def __init__(
        self,
        dispatch: Dispatch,
        *,
        compile_workers: int,
        execute_workers: int,
        run_times: RunTimes,
        compile_times: RunTimes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``run_times``: per device, of the execute stage; ``compile_times``: of a compile
        (one device key, ``""``)."""
        self.dispatch = dispatch
        self.compile_workers = compile_workers
        self.execute_workers = execute_workers
        self.run_times = run_times
        self.compile_times = compile_times
        self.clock = clock

    def of(self, job: Job) -> Placement | None:
        """Where ``job`` waits, or None: it does not wait on a queue (a worker holds it, it
        waits for its dependencies, it ended, or its entry is not on this dispatch)."""
        stages = _STAGES.get(job.state)
        if stages is None or is_waiting(job):
            return None
        stage, shown = stages
        entry = entry_of(job)
        stage = stage_for(stage, entry)
        standing = self.dispatch.standing(stage, entry)
        if standing is None:
            return None
        device = entry.target
        if stage is Stage.COMPILE:
            slots, pace = self.compile_workers, self.compile_times.of("")
            queue = "to compile"
        elif stage is Stage.SESSION:
            slots, pace = SESSION_WORKERS, self.run_times.of(device)
            queue = "in the sessions' lane"
        else:
            slots = standing.slots or self.execute_workers
            pace = self.run_times.of(device)
            queue = f"on {device}" + (f" (capacity {standing.slots})" if standing.slots else "")
        reasons = [_priority(entry.priority), f"{standing.ahead} ahead {queue}"]
        order = self.dispatch.order
        if entry.session:
            reasons[0] = f"in session {entry.session} (ahead of jobs outside sessions)"
        elif stage is Stage.EXECUTE and order.policy == "fair_share":
            pushed = order.start_of(standing.rank, entry.priority) - job.created_at
            if pushed > _PUSHED_BACK_S:
                reasons.append(
                    f"fair share: tenant {job.tenant}'s earlier jobs put its start {pushed:.1f} s back"
                )
        start = self.clock() + standing.ahead / max(1, slots) * pace
        held_until = self.dispatch.holds().get(device) if stage is Stage.EXECUTE else None
        if held_until is not None and held_until > self.clock():
            reasons.append(f"{device} is held for a session for {held_until - self.clock():.1f} s more")
            start = max(start, held_until)
        return Placement(
            stage=shown,
            device=device,
            position=standing.ahead + 1,
            slots=standing.slots,
            estimated_start=start,
            reason="; ".join(reasons),
        )


def _priority(priority: int) -> str:
    named = CLASSES.get(priority)
    return f"priority {priority}" + (f" ({named})" if named else "")
