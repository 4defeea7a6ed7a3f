"""The job store port: durable jobs, their events, results and checkpoints.

State changes are compare-and-set (:meth:`JobStore.transition` succeeds only when the job
is still in the expected state), which is what lets cancel, timeout and the pipeline race
safely. Only :mod:`eigen.kernel.lifecycle` calls ``transition``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eigen.models.job import Job, JobEvent
from eigen.models.result import JobResult
from eigen.models.state import JobState


@dataclass(frozen=True)
class JobFilter:
    states: tuple[JobState, ...] = ()
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    created_after: float | None = None
    created_before: float | None = None
    limit: int = 50
    # keyset cursor: jobs strictly older than (created_at, id), newest first
    before: tuple[float, str] | None = None
    # only jobs whose id starts with this, case-sensitively (what resolves a short id)
    id_prefix: str | None = None
    # only this tenant's jobs; None: every tenant's (an admin, or authentication off)
    tenant: str | None = None


@dataclass(frozen=True)
class Transition:
    """One compare-and-set state change (see :meth:`JobStore.transition`)."""

    job_id: str
    expected: JobState
    event: JobEvent
    changes: dict[str, Any] = field(default_factory=dict)
    result: JobResult | None = None


class JobStore(Protocol):
    def create(self, job: Job, event: JobEvent) -> None:
        """Insert a new job with its first event. Raises AlreadyExists on a duplicate
        (tenant, owner, idempotency key)."""

    def create_many(self, batch: Sequence[tuple[Job, JobEvent]]) -> None:
        """:meth:`create` for several jobs in one transaction: all of them, or (on a
        duplicate, AlreadyExists) none."""

    def get(self, job_id: str) -> Job | None: ...

    def head(self, job_id: str) -> tuple[JobState, int] | None:
        """(state, last event seq) of a job: the cheap read a transition needs."""

    def find_by_idempotency_key(self, tenant: str, owner: str, key: str) -> Job | None:
        """The job ``owner`` of ``tenant`` submitted with ``key``: a key is the tenant's
        and the owner's, so another tenant's job with the same key is never found."""

    def count_unfinished(self, tenant: str, owner: str | None = None, exclude: Collection[str] = ()) -> int:
        """How many of ``tenant``'s jobs (``owner``'s only, when given) have not ended:
        what ``max_queued_jobs`` counts; jobs with an id in ``exclude`` are not counted
        (the kernel counts those itself: admitted, perhaps stored, not yet released)."""

    def transition(
        self,
        job_id: str,
        expected: JobState,
        event: JobEvent,
        changes: dict[str, Any],
        result: JobResult | None = None,
    ) -> bool:
        """Set the job's state to ``event.state`` (and ``changes``) only if it is still
        ``expected`` and its last event is ``event.seq - 1``; append ``event``; with
        ``result``, save it in the same transaction (a job is never DONE without its
        result, and a refused transition saves none). Returns False when the job had
        moved on (the caller re-reads and decides)."""

    def transitions(self, batch: Sequence[Transition]) -> list[bool]:
        """Several transitions (of different jobs) in one transaction: each is
        compare-and-set on its own, exactly as :meth:`transition`, and a refused one does
        not stop the others. Returns, in order, which were applied."""

    def append_event(
        self,
        event: JobEvent,
        progress: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
    ) -> bool:
        """Append a non-state event (progress), with the job's checkpoint in the same
        transaction when given; False if the job is already terminal."""

    def events(self, job_id: str, after_seq: int = 0) -> list[JobEvent]: ...

    def list_jobs(self, query: JobFilter) -> list[Job]: ...

    def in_states(self, states: tuple[JobState, ...]) -> list[Job]: ...

    def save_result(self, job_id: str, result: JobResult) -> None: ...

    def result(self, job_id: str) -> JobResult | None: ...

    def expire_results(self, older_than: float) -> int:
        """Remove the results saved before ``older_than`` (epoch seconds) and mark their
        jobs as expired; the jobs and their events stay. Returns how many expired."""

    def result_expired_at(self, job_id: str) -> float | None:
        """When retention removed the job's result; None if it did not (or no such job)."""

    def save_checkpoint(self, job_id: str, data: dict[str, Any]) -> None: ...

    def checkpoint(self, job_id: str) -> dict[str, Any] | None: ...

    def close(self) -> None: ...
