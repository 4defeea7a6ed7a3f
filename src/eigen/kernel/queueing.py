"""Putting jobs on a stage's queue together with the store write that makes them due.

A dispatch that lives in the store's database (PostgreSQL) writes its entries in the
write's own transaction (the store's ``then`` hook), so a job and its entry commit
together; the in-memory dispatch is filled once the write committed, so that a worker
never claims an entry whose job it cannot read yet.
"""

from __future__ import annotations

from collections.abc import Sequence

from eigen.kernel.dispatch.memory import MemoryDispatch
from eigen.kernel.dispatch.port import Dispatch, Entry, Stage
from eigen.kernel.store.base import Then
from eigen.models.job import Job
from eigen.models.session import session_of


def entry_of(job: Job) -> Entry:
    """The queue entry of ``job``."""
    return Entry(
        job.id,
        job.request.priority,
        job.request.target,
        job.tenant,
        job.created_at,
        session=session_of(job.request),
    )


class Queueing:
    def __init__(self, dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        self.after_commit = isinstance(dispatch, MemoryDispatch)

    def within(self, stage: Stage, jobs: Sequence[Job]) -> Then | None:
        """The ``then`` of the store write that makes ``jobs`` due on ``stage`` (None: the
        dispatch is filled by :meth:`after` instead)."""
        if self.after_commit or not jobs:
            return None
        routed = _routed(stage, jobs)

        def enqueue(txn: object) -> None:
            for on, entries in routed.items():
                self.dispatch.enqueue(on, entries, within=txn)

        return enqueue

    def after(self, stage: Stage, jobs: Sequence[Job]) -> None:
        """After the write committed: the entries of ``jobs`` (the in-memory dispatch)."""
        if self.after_commit and jobs:
            for on, entries in _routed(stage, jobs).items():
                self.dispatch.enqueue(on, entries)

    def now(self, stage: Stage, jobs: Sequence[Job]) -> None:
        """Entries for ``jobs`` with no store write of theirs (a resumed job)."""
        for on, entries in _routed(stage, jobs).items():
            self.dispatch.enqueue(on, entries)


def stage_for(stage: Stage, entry: Entry) -> Stage:
    """The queue of ``entry`` due on ``stage``: a session's job, once compiled, is the session
    lane's (its own queue, so that no other job's run stands between its runs)."""
    return Stage.SESSION if stage is Stage.EXECUTE and entry.session else stage


def _routed(stage: Stage, jobs: Sequence[Job]) -> dict[Stage, list[Entry]]:
    routed: dict[Stage, list[Entry]] = {}
    for job in jobs:
        entry = entry_of(job)
        routed.setdefault(stage_for(stage, entry), []).append(entry)
    return routed
