"""The job store port: durable jobs, their events, results and checkpoints.

State changes are compare-and-set (:meth:`JobStore.transition` succeeds only when the job
is still in the expected state), which is what lets cancel, timeout and the pipeline race
safely. Only :mod:`eigen.kernel.lifecycle` calls ``transition``.

Writes take ``then``: a function of the store's write transaction (``txn``: the SQLAlchemy
``Connection`` of a SQL store, None in memory) run after the store's own writes and before
the commit, so that a queue living in the same database writes its entries in that
transaction and a job and its queue entry commit together or not at all. If ``then``
raises, a SQL store rolls the whole write back and the error propagates. A memory store has
no transaction: it runs ``then(None)`` once its writes are visible (after its lock is
released, so that ``then`` may call the store), and keeps them if ``then`` raises.

Leases: a worker that claims a job sets ``worker_id`` and ``lease_expires_at`` in the
claiming transition's ``changes`` (with ``attempt``), renews them while it works
(:meth:`JobStore.renew_leases`) and loses the job when it stops renewing: the lease sweep
finds it (:meth:`JobStore.expired_leases`) and puts it back. A lease that has lapsed is
never renewed again, so the sweep and a late heartbeat cannot both win. Lease times are
epoch seconds of the nodes' clocks, which must agree (NTP) to well under a lease.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eigen.models.dead_letter import DeadLetter
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


# what ``then`` gets: the write transaction (a SQLAlchemy Connection; None in memory)
Then = Callable[[Any], None]


@dataclass(frozen=True)
class Transition:
    """One compare-and-set state change (see :meth:`JobStore.transition`).

    ``then``: run in the write transaction only if this change is applied (e.g. enqueue the
    job for its next stage, or write its dead letter), before the batch's own ``then``.
    ``lease_before``: apply only if the job's lease lapsed before this moment too (what the
    lease sweep sets, to the ``now`` it found the lease lapsed at: a heartbeat that renewed
    the lease in between wins, and the sweep's move is refused)."""

    job_id: str
    expected: JobState
    event: JobEvent
    changes: dict[str, Any] = field(default_factory=dict)
    result: JobResult | None = None
    then: Then | None = None
    lease_before: float | None = None


class JobStore(Protocol):
    def create(self, job: Job, event: JobEvent, *, then: Then | None = None) -> None:
        """Insert a new job (with its ``deadline_at``) and its first event, then run
        ``then`` in the same transaction. Raises AlreadyExists on a duplicate (tenant,
        owner, idempotency key); ``then`` is not run then."""

    def create_many(self, batch: Sequence[tuple[Job, JobEvent]], *, then: Then | None = None) -> None:
        """:meth:`create` for several jobs in one transaction: all of them, or (on a
        duplicate, AlreadyExists) none; ``then`` runs once, after the inserts. Each job's
        ``request.dependencies`` are recorded with it (see :meth:`dependants`)."""

    def get(self, job_id: str) -> Job | None: ...

    def dependants(self, job_id: str) -> list[str]:
        """The ids of the jobs whose ``request.dependencies`` name ``job_id`` (stored with
        each job by :meth:`create_many`, so any node finds them), oldest first."""

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
        *,
        then: Then | None = None,
        lease_before: float | None = None,
    ) -> bool:
        """Set the job's state to ``event.state`` (and ``changes``: any of the job's
        columns, e.g. ``worker_id``, ``lease_expires_at``, ``attempt``, ``error_code``)
        only if it is still ``expected`` and its last event is ``event.seq - 1``; append
        ``event``; with ``result``, save it in the same transaction (a job is never DONE
        without its result, and a refused transition saves none); if applied, run
        ``then`` in that transaction. Returns False when the job had moved on (the caller
        re-reads and decides; ``then`` did not run). ``lease_before``: see
        :class:`Transition`."""

    def transitions(self, batch: Sequence[Transition], *, then: Then | None = None) -> list[bool]:
        """Several transitions (of different jobs) in one transaction: each is
        compare-and-set on its own, exactly as :meth:`transition`, and a refused one does
        not stop the others. Each applied move's own ``then`` runs, then the batch's
        ``then`` (always, once the moves are done). Returns, in order, which were applied.
        The rows are changed in the order of their job ids, whatever the batch's order, as
        :meth:`renew_leases` does: two writers of the same jobs never deadlock."""

    def renew_leases(
        self, worker_id: str, job_ids: Collection[str], until: float, now: float | None = None
    ) -> set[str]:
        """Extend to ``until`` the leases ``worker_id`` holds on ``job_ids``: the jobs still
        COMPILING or RUNNING with that worker whose lease has not lapsed at ``now``
        (default: the clock). Returns the ids renewed; a job missing from it is no longer
        this worker's to finish (it ended, or its lease lapsed and the sweep may take it)."""

    def expired_leases(self, now: float, limit: int = 100) -> list[Job]:
        """COMPILING or RUNNING jobs whose lease lapsed before ``now``, the oldest lapse
        first (what the lease sweep puts back or gives up on)."""

    def overdue(self, now: float, limit: int = 100) -> list[Job]:
        """Unfinished jobs whose ``deadline_at`` is ``now`` or earlier, the earliest first."""

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
        """Record that ``job_id`` was given up on after ``attempts`` (at ``at``, default
        now), in the transaction ``within`` when given (the ``txn`` of a ``then``: the
        record commits with the job's move to ERROR). A second record of the same job
        replaces the first. Raises NotFound when there is no such job."""

    def dead_letters(
        self, tenant: str | None = None, limit: int = 50, before: tuple[float, str] | None = None
    ) -> list[DeadLetter]:
        """Dead letters, newest first: ``tenant``'s only when given; ``before``: a keyset
        cursor (at, job_id) of the last one of the previous page."""

    def append_event(
        self,
        event: JobEvent,
        progress: dict[str, Any] | None = None,
        checkpoint: dict[str, Any] | None = None,
        *,
        then: Then | None = None,
    ) -> bool:
        """Append a non-state event (progress), with the job's checkpoint in the same
        transaction when given, only if the job's last event is ``event.seq - 1``; if
        appended, run ``then`` in that transaction (a job released from waiting and its
        queue entry commit together). False if the job is already terminal or moved on."""

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
