"""Sessions: open, read, close, cancel, expire, and the admission of a job into one.

A job submitted with ``session_id`` must name an ACTIVE session of its tenant on its target
(else NOT_FOUND, FAILED_PRECONDITION or INVALID_ARGUMENT naming ``session_id``); it is
stored with the label ``scheduler.eigen.os/session``, which its queue entries carry, and
the order ranks it ahead of every job outside a session (:mod:`eigen.kernel.fair_order`):
a session's jobs run back to back on its device, in submission order. Each submission
restarts the session's idle time.

Expiry is a duty (:meth:`Sessions.sweep`, on one node of a cluster) and is also applied
whenever a session is read or used, so a session past its time never takes a job.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from eigen.errors import FailedPrecondition, InvalidArgument, NotFound
from eigen.kernel.store.base import JobFilter, JobStore
from eigen.kernel.store.sessions import SessionStore
from eigen.models.job import JobRequest
from eigen.models.session import (
    DEFAULT_IDLE_S,
    DEFAULT_MAX_TIME_S,
    MAX_TIME_S_MAX,
    SESSION_LABEL,
    Session,
    SessionState,
)
from eigen.models.state import JobState

SWEEP_LIMIT = 100  # sessions looked at per sweep
SESSION_SWEEP_S = 1.0  # how often the expiry duty runs: a session ends within this of its time
_PAGE = 500  # a session's jobs cancelled per store read


class Sessions:
    def __init__(
        self,
        store: SessionStore,
        jobs: JobStore,
        cancel: Callable[[str, str], object],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``cancel(job_id, reason)``: cancels a job that has not ended (the kernel's)."""
        self.store = store
        self.jobs = jobs
        self.cancel_job = cancel
        self.clock = clock

    def open(
        self, tenant: str, owner: str, target: str, max_time_s: float | None, idle_s: float | None
    ) -> Session:
        max_time = max_time_s or DEFAULT_MAX_TIME_S  # 0 (unset on the wire): the default
        idle = min(idle_s or DEFAULT_IDLE_S, max_time)  # idle past the max time: the max time
        if not 0 < max_time <= MAX_TIME_S_MAX:
            raise InvalidArgument.for_field(
                "max_time_s", f"must be in (0, {MAX_TIME_S_MAX:g}] s, not {max_time:g}"
            )
        if idle <= 0:
            raise InvalidArgument.for_field("idle_s", f"must be a positive number of seconds, not {idle:g}")
        now = self.clock()
        session = Session(
            id=uuid.uuid4().hex,
            tenant=tenant,
            owner=owner,
            target=target,
            state=SessionState.ACTIVE,
            created_at=now,
            max_time_s=max_time,
            idle_s=idle,
            last_activity_at=now,
        )
        self.store.put(session)
        return session

    def get(self, session_id: str, tenant: str | None = None) -> Session:
        """The session (due changes applied); NOT_FOUND when missing or ``tenant``'s is not
        its tenant (None: any tenant's)."""
        found = self.store.get(session_id) if session_id else None
        if found is None or (tenant is not None and found.tenant != tenant):
            raise NotFound.for_field("session_id", f"session {session_id} not found")
        return self._settled(found)

    def close(self, session_id: str, tenant: str | None = None) -> Session:
        """No more jobs; those in it finish, still ahead of the queue."""
        found = self.get(session_id, tenant)
        if found.state is not SessionState.ACTIVE:
            return found
        return self._end(found, SessionState.CLOSED, "closed by request")

    def cancel(self, session_id: str, tenant: str | None = None) -> Session:
        """No more jobs, and its jobs that have not ended are cancelled."""
        found = self.get(session_id, tenant)
        if found.state in (SessionState.CANCELLED, SessionState.EXPIRED):
            return found
        if found.state is SessionState.CLOSED:  # closed: its queued jobs may still be dropped
            self._cancel_jobs(found, "its session was cancelled")
            return found
        return self._end(found, SessionState.CANCELLED, "cancelled by request")

    def admitted(self, request: JobRequest, tenant: str) -> JobRequest:
        """``request`` in its session (labelled), or refused: the session must be ``tenant``'s,
        ACTIVE and on the request's target."""
        if not request.session_id:
            return request
        session = self.get(request.session_id, tenant)
        if session.state is not SessionState.ACTIVE:
            raise FailedPrecondition.for_field(
                "session_id",
                f"session {session.id} is {session.state.value} ({session.reason}): it takes no jobs",
            )
        if session.target != request.target:
            raise InvalidArgument.for_field(
                "session_id",
                f"session {session.id} is on {session.target}, the job's target is {request.target}",
            )
        self.store.touch(session.id, self.clock())
        return request.model_copy(update={"labels": {**request.labels, SESSION_LABEL: session.id}})

    def sweep(self) -> int:
        """End the sessions that are due (max time, idle); how many ended."""
        ended = 0
        for session in self.store.active(SWEEP_LIMIT):
            if session.due(self.clock()) is None:
                break  # the rest are due later
            if self._settled(session).state is not SessionState.ACTIVE:
                ended += 1
        return ended

    def _settled(self, session: Session) -> Session:
        due = session.due(self.clock())
        return session if due is None else self._end(session, *due)

    def _end(self, session: Session, state: SessionState, reason: str) -> Session:
        ended = self.store.end(session.id, state, self.clock(), reason)
        if ended is None:  # another ended it first
            return self.store.get(session.id) or session
        if state in (SessionState.CANCELLED, SessionState.EXPIRED):
            self._cancel_jobs(ended, f"its session {reason}")
        return ended

    def _cancel_jobs(self, session: Session, reason: str) -> None:
        unfinished = tuple(state for state in JobState if not state.terminal)
        query = JobFilter(
            states=unfinished, labels={SESSION_LABEL: session.id}, limit=_PAGE, tenant=session.tenant
        )
        for job in self.jobs.list_jobs(query):
            self.cancel_job(job.id, reason)
