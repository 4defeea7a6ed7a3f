"""In-memory job store for unit tests and throwaway runs."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from eigen.errors import AlreadyExists, NotFound
from eigen.kernel.store.base import JobFilter, Then, Transition
from eigen.kernel.store.query import matches
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState

_LEASED = (JobState.COMPILING, JobState.RUNNING)


class MemoryJobStore:
    """Every JobStore operation on dictionaries under one lock. Writes run their ``then``
    with None once the lock is released (see :mod:`eigen.kernel.store.base`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[JobEvent]] = {}
        self._results: dict[str, tuple[float, JobResult]] = {}
        self._checkpoints: dict[str, dict[str, Any]] = {}
        self._dead_letters: dict[str, DeadLetter] = {}
        self._dependants: dict[str, list[str]] = {}  # a job's id: the jobs that depend on it

    def create(self, job: Job, event: JobEvent, *, then: Then | None = None) -> None:
        self.create_many([(job, event)], then=then)

    def create_many(self, batch: Sequence[tuple[Job, JobEvent]], *, then: Then | None = None) -> None:
        self._create_many(batch)
        if then is not None:
            then(None)

    def _create_many(self, batch: Sequence[tuple[Job, JobEvent]]) -> None:
        with self._lock:
            keys = [(job.tenant, job.owner, job.idempotency_key) for job, _ in batch if job.idempotency_key]
            for job, _ in batch:
                if job.idempotency_key and self._by_key(job.tenant, job.owner, job.idempotency_key):
                    raise AlreadyExists(f"idempotency key {job.idempotency_key!r} is taken")
                if job.id in self._jobs:
                    raise AlreadyExists(f"job {job.id} exists")
            if len(set(keys)) < len(keys) or len({job.id for job, _ in batch}) < len(batch):
                raise AlreadyExists("the batch repeats a job id or idempotency key")
            for job, event in batch:
                self._jobs[job.id] = replace(job, last_seq=event.seq)
                self._events[job.id] = [event]
                for depends_on in dict.fromkeys(job.request.dependencies):
                    self._dependants.setdefault(depends_on, []).append(job.id)

    def dependants(self, job_id: str) -> list[str]:
        with self._lock:
            return list(self._dependants.get(job_id, ()))

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return copy.deepcopy(job) if job else None

    def head(self, job_id: str) -> tuple[JobState, int] | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return (job.state, job.last_seq) if job else None

    def find_by_idempotency_key(self, tenant: str, owner: str, key: str) -> Job | None:
        with self._lock:
            job = self._by_key(tenant, owner, key)
            return copy.deepcopy(job) if job else None

    def _by_key(self, tenant: str, owner: str, key: str) -> Job | None:
        return next(
            (
                j
                for j in self._jobs.values()
                if j.tenant == tenant and j.owner == owner and j.idempotency_key == key
            ),
            None,
        )

    def count_unfinished(self, tenant: str, owner: str | None = None, exclude: Collection[str] = ()) -> int:
        with self._lock:
            return sum(
                1
                for j in self._jobs.values()
                if j.tenant == tenant
                and not j.terminal
                and (owner is None or j.owner == owner)
                and j.id not in exclude
            )

    def transition(
        self,
        job_id: str,
        expected: JobState,
        event: JobEvent,
        changes: dict[str, Any],
        result: JobResult | None = None,
        *,
        then: Then | None = None,
        lease_before: float | None = None,
    ) -> bool:
        move = Transition(job_id, expected, event, changes, result, then, lease_before)
        return self.transitions([move])[0]

    def transitions(self, batch: Sequence[Transition], *, then: Then | None = None) -> list[bool]:
        with self._lock:
            applied = [self._apply(move) for move in batch]
        for move, ok in zip(batch, applied, strict=True):
            if ok and move.then is not None:
                move.then(None)
        if then is not None:
            then(None)
        return applied

    def _apply(self, move: Transition) -> bool:
        job = self._jobs.get(move.job_id)
        if job is None or job.state != move.expected or job.last_seq + 1 != move.event.seq:
            return False
        if move.lease_before is not None and not (
            job.lease_expires_at is not None and job.lease_expires_at < move.lease_before
        ):
            return False
        changes = move.changes
        if move.result is not None:
            self._results[move.job_id] = (time.time(), copy.deepcopy(move.result))
            changes = {**changes, "result_expired_at": None}
        event = move.event
        self._jobs[move.job_id] = replace(
            job, state=event.state, last_seq=event.seq, updated_at=event.timestamp, **changes
        )
        self._events[move.job_id].append(event)
        return True

    def renew_leases(
        self, worker_id: str, job_ids: Collection[str], until: float, now: float | None = None
    ) -> set[str]:
        moment = time.time() if now is None else now
        renewed: set[str] = set()
        with self._lock:
            for job_id in set(job_ids):
                job = self._jobs.get(job_id)
                if (
                    job is not None
                    and job.state in _LEASED
                    and job.worker_id == worker_id
                    and job.lease_expires_at is not None
                    and job.lease_expires_at >= moment
                ):
                    self._jobs[job_id] = replace(job, lease_expires_at=until)
                    renewed.add(job_id)
        return renewed

    def expired_leases(self, now: float, limit: int = 100) -> list[Job]:
        with self._lock:
            found = [
                j
                for j in self._jobs.values()
                if j.state in _LEASED and j.lease_expires_at is not None and j.lease_expires_at < now
            ]
            found.sort(key=lambda j: (j.lease_expires_at or 0.0, j.id))
            return copy.deepcopy(found[:limit])

    def overdue(self, now: float, limit: int = 100) -> list[Job]:
        with self._lock:
            found = [
                j
                for j in self._jobs.values()
                if not j.terminal and j.deadline_at is not None and j.deadline_at <= now
            ]
            found.sort(key=lambda j: (j.deadline_at or 0.0, j.id))
            return copy.deepcopy(found[:limit])

    def add_dead_letter(
        self,
        job_id: str,
        attempts: int,
        reason: str,
        worker_id: str | None = None,
        *,
        within: Any = None,
        at: float | None = None,
    ) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound(f"job {job_id} not found")
            stamp = time.time() if at is None else at
            self._dead_letters[job_id] = DeadLetter(job_id, job.tenant, attempts, reason, stamp, worker_id)

    def dead_letters(
        self, tenant: str | None = None, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[DeadLetter]:
        with self._lock:
            found = [
                d
                for d in self._dead_letters.values()
                if (tenant is None or d.tenant == tenant) and (before is None or (d.at, d.job_id) < before)
            ]
        found.sort(key=lambda d: (d.at, d.job_id), reverse=True)
        return found[:limit]

    def append_event(
        self,
        event: JobEvent,
        progress: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        *,
        then: Then | None = None,
    ) -> bool:
        if not self._append_event(event, progress, checkpoint):
            return False
        if then is not None:
            then(None)
        return True

    def _append_event(
        self, event: JobEvent, progress: dict[str, Any] | None, checkpoint: dict[str, Any] | None
    ) -> bool:
        with self._lock:
            job = self._jobs.get(event.job_id)
            if job is None or job.terminal or job.last_seq + 1 != event.seq:
                return False
            changes: dict[str, Any] = {"last_seq": event.seq, "updated_at": event.timestamp}
            if progress is not None:
                changes["progress"] = dict(progress)
            self._jobs[event.job_id] = replace(job, **changes)
            self._events[event.job_id].append(event)
            if checkpoint is not None:
                self._checkpoints[event.job_id] = copy.deepcopy(checkpoint)
            return True

    def events(self, job_id: str, after_seq: int = 0) -> list[JobEvent]:
        with self._lock:
            return [e for e in self._events.get(job_id, []) if e.seq > after_seq]

    def list_jobs(self, query: JobFilter) -> list[Job]:
        with self._lock:
            found = [j for j in self._jobs.values() if matches(j, query)]
        found.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return copy.deepcopy(found[: query.limit])

    def in_states(self, states: tuple[JobState, ...]) -> list[Job]:
        with self._lock:
            return copy.deepcopy([j for j in self._jobs.values() if j.state in states])

    def save_result(self, job_id: str, result: JobResult) -> None:
        with self._lock:
            self._results[job_id] = (time.time(), copy.deepcopy(result))
            if job_id in self._jobs:
                self._jobs[job_id] = replace(self._jobs[job_id], result_expired_at=None)

    def result(self, job_id: str) -> JobResult | None:
        with self._lock:
            found = self._results.get(job_id)
            return copy.deepcopy(found[1]) if found else None

    def expire_results(self, older_than: float) -> int:
        with self._lock:
            old = [job_id for job_id, (saved, _) in self._results.items() if saved < older_than]
            now = time.time()
            for job_id in old:
                del self._results[job_id]
                if job_id in self._jobs:
                    self._jobs[job_id] = replace(self._jobs[job_id], result_expired_at=now)
            return len(old)

    def result_expired_at(self, job_id: str) -> float | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return job.result_expired_at if job else None

    def save_checkpoint(self, job_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._checkpoints[job_id] = copy.deepcopy(data)

    def checkpoint(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._checkpoints.get(job_id)
            return copy.deepcopy(found) if found else None

    def close(self) -> None:
        return None
