"""The only writer of job state: every transition is checked against the one table in
:mod:`eigen.models.state`, stored compare-and-set, recorded as an event with the next
per-job sequence number, and published to watchers. Being the one writer, it is also
where job counters and state-transition metrics are kept.

A move made by the worker that claimed the job (a stage ending: RUNNING -> DONE, ERROR,
TIMEOUT; COMPILING -> QUEUED, ...) is *fenced*: it applies only while the job is still in
that worker's claim (same state, ``worker_id`` and ``attempt`` as the worker's snapshot).
A worker whose lease lapsed while it still worked (a long pause, a stalled heartbeat) may
finish after the lease sweep put the job back and another worker claimed it; its move is
then refused, its result discarded, and one log line says so. The compare-and-set on the
job's last event number is what makes this sound: every claim and every put-back is a
state event, so a job read with the worker's claim and moved from that read's sequence
number cannot have changed hands in between. Cancels, deadlines and the sweep's own moves
are not fenced."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from eigen.errors import InternalError, NotFound
from eigen.kernel.events import EventBus
from eigen.kernel.store.base import JobStore, Then, Transition
from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState, can_transition
from eigen.observability import context as call_context
from eigen.observability import metrics

log = logging.getLogger(__name__)

_MAX_RACES = 50


@dataclass(frozen=True)
class Move:
    """A request to move ``job`` (the caller's snapshot of it) to ``target``."""

    job: Job
    target: JobState
    message: str = ""
    data: dict[str, Any] | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    result: JobResult | None = None
    then: Then | None = None  # run in the move's transaction if it is applied (see JobStore)
    lease_before: float | None = None  # only if the job's lease lapsed before this (the sweep)
    fenced: bool = False  # only while the job is still in ``job``'s claim (the worker's own move)


class Lifecycle:
    def __init__(self, store: JobStore, bus: EventBus, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        # by job: the state and sequence number of our own last progress event, and whose
        # claim (worker, attempt) recorded it
        self._progressed: dict[str, tuple[JobState, int, tuple[str | None, int] | None]] = {}
        # told of every state change applied (the kernel counts the jobs waiting to run)
        self.on_state: Callable[[JobEvent], None] | None = None
        # told of every job that ended (the jobs depending on it are settled)
        self.on_ended: list[Callable[[JobEvent], None]] = []

    def create(self, job: Job, message: str = "submitted") -> Job:
        return self.create_many([job], message)[0]

    def create_many(
        self, jobs: Sequence[Job], message: str = "submitted", *, then: Then | None = None
    ) -> list[Job]:
        """Store new jobs as PENDING (one transaction: all or none, ``then`` in it) and
        publish them."""
        events = [JobEvent(job.id, 1, JobState.PENDING, "state", job.created_at, message) for job in jobs]
        created = [replace(job, state=JobState.PENDING, last_seq=1) for job in jobs]
        batch = list(zip(created, events, strict=True))
        if then is None:
            self.store.create_many(batch)
        else:
            self.store.create_many(batch, then=then)
        for job, event in zip(created, events, strict=True):
            self.bus.publish(event)
            metrics.job_submitted(job.request.target)
        return created

    def move(
        self,
        job_id: str,
        target: JobState,
        message: str = "",
        data: dict[str, Any] | None = None,
        *,
        snapshot: Job | None = None,
        result: JobResult | None = None,
        then: Then | None = None,
        lease_before: float | None = None,
        fenced: bool = False,
        **changes: Any,
    ) -> Job | None:
        """Move a job to ``target``. Returns the updated job, or None when the job is in a
        state from which ``target`` is not allowed (cancelled meanwhile, already terminal)
        or, ``fenced``, no longer in the snapshot's claim. ``result`` is saved with the
        move, in one transaction (DONE with its result).

        ``snapshot``: the caller's up-to-date copy of the job (the pipeline's hot path): the
        first attempt trusts it, and only when the compare-and-set finds the job moved on are
        its state and sequence number read again. ``fenced`` (with ``snapshot``: the claim
        the caller holds): the re-read job must still be in that claim (see the module
        docstring). ``then`` and ``lease_before``: see :class:`Move`."""
        if fenced and snapshot is None:
            raise InternalError(f"job {job_id}: a fenced move needs the claim's snapshot")
        for attempt in range(_MAX_RACES):
            job = (
                snapshot if snapshot is not None and attempt == 0 else self._reread(job_id, snapshot, fenced)
            )
            if job is None:
                if fenced:
                    return None  # the claim moved on (logged) or the job is gone
                raise NotFound(f"job {job_id} not found")
            planned = self._plan(Move(job, target, message, data, changes, result))
            if planned is None:
                return None
            event, fields = planned.event, planned.changes
            if then is None and lease_before is None:  # the plain call (what every store takes)
                applied = self.store.transition(job_id, job.state, event, fields, result)
            else:
                applied = self.store.transition(
                    job_id, job.state, event, fields, result, then=then, lease_before=lease_before
                )
            if applied:
                return self._moved(job, planned)
        raise InternalError(f"job {job_id}: too many concurrent updates")

    def claimed(self, claim: Job) -> Job | None:
        """``claim`` (a worker's snapshot) at the job's stored state and sequence number
        while the job is still in that claim; None (logged) once it moved on."""
        return self._reread(claim.id, claim, fenced=True)

    def _reread(self, job_id: str, snapshot: Job | None, fenced: bool) -> Job | None:
        """The job to plan a move from after the first try: as stored (no snapshot), the
        snapshot at the stored state and sequence number, or (``fenced``) that only while
        the stored job is still in the snapshot's claim; None when there is no such job or
        the claim moved on."""
        if snapshot is None:
            return self.store.get(job_id)
        if not fenced:
            head = self.store.head(job_id)
            return replace(snapshot, state=head[0], last_seq=head[1]) if head else None
        stored = self.store.get(job_id)  # one read of the row: its claim and sequence together
        if stored is None:
            return None
        if not in_claim(stored, snapshot):
            log.warning(
                "stale outcome discarded: the job is no longer in this worker's claim",
                extra={
                    "job_id": job_id,
                    "worker": snapshot.worker_id,
                    "attempt": snapshot.attempt,
                    "state": stored.state.value,
                    "claimed_by": stored.worker_id,
                    "claimed_attempt": stored.attempt,
                },
            )
            return None
        return replace(snapshot, state=stored.state, last_seq=stored.last_seq)

    def move_many(self, moves: Sequence[Move]) -> list[Job | None]:
        """:meth:`move` for several jobs (each from its snapshot) in one transaction; the
        pipeline's stages move a batch of jobs at once. A move whose compare-and-set is
        refused (the job moved on meanwhile) is retried alone, as :meth:`move` does."""
        planned = [self._plan(move) for move in moves]
        batch = [p for p in planned if p is not None]
        applied = iter(self.store.transitions(batch))
        moved: list[Job | None] = []
        for move, plan in zip(moves, planned, strict=True):
            if plan is None:
                moved.append(None)
            elif next(applied):
                moved.append(self._moved(move.job, plan))
            else:
                moved.append(
                    self.move(
                        move.job.id,
                        move.target,
                        move.message,
                        move.data,
                        snapshot=move.job,
                        result=move.result,
                        then=move.then,
                        lease_before=move.lease_before,
                        fenced=move.fenced,
                        **move.changes,
                    )
                )
        return moved

    def _plan(self, move: Move) -> Transition | None:
        """The transition that moves ``move.job`` (as last seen) to ``move.target``; None
        when its state does not allow the target."""
        job = move.job
        if not can_transition(job.state, move.target):
            return None
        now = self.clock()
        fields = dict(move.changes)
        if move.target is JobState.RUNNING:
            fields.setdefault("started_at", now)
        if move.target.terminal:
            fields.setdefault("finished_at", now)
        event = JobEvent(
            job.id, job.last_seq + 1, move.target, "state", now, move.message, dict(move.data or {})
        )
        return Transition(job.id, job.state, event, fields, move.result, move.then, move.lease_before)

    def _moved(self, job: Job, applied: Transition) -> Job:
        """Count an applied transition, then publish it (whoever sees the event finds it
        counted); the job as it is now."""
        event = applied.event
        self._progressed.pop(job.id, None)
        metrics.job_transition(
            job.state.value,
            event.state.value,
            job.request.target,
            str(applied.changes.get("error_code") or ""),
        )
        run_s = applied.result.timings.get("execute_s") if applied.result is not None else None
        if event.state is JobState.DONE and run_s is not None:  # a device's run that ended it
            metrics.execution_seconds(job.request.target, run_s)
        self.bus.publish(event)
        if self.on_state is not None:
            self.on_state(event)
        if event.state.terminal:
            for hook in self.on_ended:
                hook(event)
        if log.isEnabledFor(logging.DEBUG):
            # A worker moving a batch is in no job's context: give each line its own.
            outside = call_context.active_context() is None
            with job_context(job) if outside else contextlib.nullcontext():
                log.debug(
                    "job state changed",
                    extra={"job_id": job.id, "from": job.state.value, "to": event.state.value},
                )
        return replace(
            job, state=event.state, last_seq=event.seq, updated_at=event.timestamp, **applied.changes
        )

    def note(self, job: Job, data: dict[str, Any], message: str = "", *, then: Then | None = None) -> bool:
        """One progress event on ``job`` as last read, compare-and-set on its sequence
        number, with ``then`` in its transaction: False when the job moved on meanwhile
        (e.g. another node made the same note first), so that a note made once is acted on
        once."""
        event = JobEvent(job.id, job.last_seq + 1, job.state, "progress", self.clock(), message, data)
        applied = (
            self.store.append_event(event, progress=data)
            if then is None
            else self.store.append_event(event, progress=data, then=then)
        )
        if not applied:
            return False
        self._progressed.pop(job.id, None)
        self.bus.publish(event)
        return True

    def progress(
        self,
        job_id: str,
        data: dict[str, Any],
        message: str = "",
        checkpoint: dict[str, Any] | None = None,
        *,
        claim: Job | None = None,
    ) -> bool:
        """Record a progress event (e.g. one optimiser iteration) and, atomically with it,
        the checkpoint to resume from; False once terminal. ``claim``: the run's snapshot
        (a hybrid loop): fenced as the run's own moves are, so False (logged) once the job
        is no longer in that claim: a stale loop never overwrites the live run's
        checkpoint."""
        owner = None if claim is None else (claim.worker_id, claim.attempt)
        last = self._progressed.pop(job_id, None)  # our own last event, if this job had one
        head = last[:2] if last is not None and last[2] == owner else None  # (another claim's: read)
        for _ in range(_MAX_RACES):
            if head is None and claim is None:
                head = self.store.head(job_id)
            elif head is None and claim is not None:
                held = self.claimed(claim)  # one read: still this run's?
                head = None if held is None else (held.state, held.last_seq)
            if head is None or head[0].terminal:
                return False
            state, last_seq = head
            event = JobEvent(job_id, last_seq + 1, state, "progress", self.clock(), message, data)
            if self.store.append_event(event, progress=data, checkpoint=checkpoint):
                self.bus.publish(event)
                # A loop reports many iterations in a row: remember where it stands, so the
                # next one tries without a read (the compare-and-set catches anything else).
                self._progressed[job_id] = (state, event.seq, owner)
                return True
            head = None
        return False


def in_claim(stored: Job, claim: Job) -> bool:
    """Whether ``stored`` is still in the claim ``claim`` was taken with: the same worker
    and attempt, and the claimed stage (or an end the claim's own stage was given:
    cancelled or timed out meanwhile, which the move's plan then refuses)."""
    same = stored.worker_id == claim.worker_id and stored.attempt == claim.attempt
    return same and (stored.state is claim.state or stored.terminal)


@contextmanager
def job_context(job: Job) -> Iterator[None]:
    """The job's submitter and trace travel with every call (and log line) of a stage."""
    token = call_context.activate(
        call_context.CallContext(
            request_id=job.id, caller=job.owner, traceparent=job.traceparent, job_id=job.id
        )
    )
    try:
        yield
    finally:
        call_context.deactivate(token)
