"""The only writer of job state: every transition is checked against the one table in
:mod:`eigen.models.state`, stored compare-and-set, recorded as an event with the next
per-job sequence number, and published to watchers. Being the one writer, it is also
where job counters and state-transition metrics are kept."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eigen.errors import InternalError, NotFound
from eigen.kernel.events import EventBus
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState, can_transition
from eigen.observability import metrics

log = logging.getLogger(__name__)

_MAX_RACES = 50


class Lifecycle:
    def __init__(self, store: JobStore, bus: EventBus, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bus = bus
        self.clock = clock
        self._progressed: dict[str, tuple[JobState, int]] = {}

    def create(self, job: Job, message: str = "submitted") -> Job:
        event = JobEvent(job.id, 1, JobState.PENDING, "state", job.created_at, message)
        job = replace(job, state=JobState.PENDING, last_seq=1)
        self.store.create(job, event)
        self.bus.publish(event)
        metrics.job_submitted(job.request.target)
        return job

    def move(
        self,
        job_id: str,
        target: JobState,
        message: str = "",
        data: dict[str, Any] | None = None,
        *,
        snapshot: Job | None = None,
        result: JobResult | None = None,
        **changes: Any,
    ) -> Job | None:
        """Move a job to ``target``. Returns the updated job, or None when the job is in a
        state from which ``target`` is not allowed (cancelled meanwhile, already terminal).
        ``result`` is saved with the move, in one transaction (DONE with its result).

        ``snapshot``: the caller's up-to-date copy of the job (the pipeline's hot path): the
        first attempt trusts it, and only when the compare-and-set finds the job moved on are
        its state and sequence number read again."""
        for attempt in range(_MAX_RACES):
            job = snapshot if snapshot is not None else self.store.get(job_id)
            if snapshot is not None and attempt > 0:
                head = self.store.head(job_id)
                job = replace(snapshot, state=head[0], last_seq=head[1]) if head else None
            if job is None:
                raise NotFound(f"job {job_id} not found")
            if not can_transition(job.state, target):
                return None
            now = self.clock()
            fields = dict(changes)
            if target is JobState.RUNNING:
                fields.setdefault("started_at", now)
            if target.terminal:
                fields.setdefault("finished_at", now)
            event = JobEvent(job_id, job.last_seq + 1, target, "state", now, message, dict(data or {}))
            if self.store.transition(job_id, job.state, event, fields, result):
                self._progressed.pop(job_id, None)
                self.bus.publish(event)
                metrics.job_transition(
                    job.state.value, target.value, job.request.target, str(fields.get("error_code") or "")
                )
                log.debug(
                    "job state changed",
                    extra={"job_id": job_id, "from": job.state.value, "to": target.value},
                )
                return replace(job, state=target, last_seq=event.seq, updated_at=now, **fields)
        raise InternalError(f"job {job_id}: too many concurrent updates")

    def progress(
        self,
        job_id: str,
        data: dict[str, Any],
        message: str = "",
        checkpoint: dict[str, Any] | None = None,
    ) -> bool:
        """Record a progress event (e.g. one optimiser iteration) and, atomically with it,
        the checkpoint to resume from; False once terminal."""
        head = self._progressed.pop(job_id, None)  # our own last event, if this job had one
        for _ in range(_MAX_RACES):
            head = head or self.store.head(job_id)
            if head is None or head[0].terminal:
                return False
            state, last_seq = head
            event = JobEvent(job_id, last_seq + 1, state, "progress", self.clock(), message, data)
            if self.store.append_event(event, progress=data, checkpoint=checkpoint):
                self.bus.publish(event)
                # A loop reports many iterations in a row: remember where it stands, so the
                # next one tries without a read (the compare-and-set catches anything else).
                self._progressed[job_id] = (state, event.seq)
                return True
            head = None
        return False
