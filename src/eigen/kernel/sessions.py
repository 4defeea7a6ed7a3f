"""Sessions: open, read, close, cancel, expire, and the admission of a job into one.

A job submitted with ``session_id`` must name an ACTIVE session of its tenant on its target
(else NOT_FOUND, FAILED_PRECONDITION or INVALID_ARGUMENT naming ``session_id``); it is
stored with the label ``scheduler.eigen.os/session``, which its queue entries carry, and
the order ranks it ahead of every job outside a session (:mod:`eigen.kernel.fair_order`):
a session's jobs run back to back on its device, in submission order. Each submission,
and each start and end of a run of one of its jobs, restarts the session's idle time.

While a session is in use its device is **held** (:meth:`Sessions.holds`, read by the
dispatch): the execute stage starts no other job on it from the session's opening until
``hold_s`` after its last activity (an opening, a submission, a run's start or end), and
while the session lane has its jobs, so that a loop driven from the client (submit, wait, compute, submit) has
its device to itself between iterations, as on a QPU reserved for a session. The jobs
already running when the hold begins run on. ``hold_s`` 0: sessions hold nothing, their
jobs only go first.

Expiry is a duty (:meth:`Sessions.sweep`, on one node of a cluster) and is also applied
whenever a session is read or used, so a session past its time never takes a job.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping

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
HOLDS_FRESH_S = 0.25  # a read of the holds is used this long (another node's new hold: this late)
SESSION_SWEEP_S = 1.0  # how often the expiry duty runs: a session ends within this of its time
_PAGE = 500  # a session's jobs cancelled per store read


class Sessions:
    def __init__(
        self,
        store: SessionStore,
        jobs: JobStore,
        cancel: Callable[[str, str], object],
        clock: Callable[[], float] = time.time,
        *,
        hold_s: float,
    ) -> None:
        """``cancel(job_id, reason)``: cancels a job that has not ended (the kernel's);
        ``hold_s``: how long a session holds its device after its last activity."""
        self.store = store
        self.jobs = jobs
        self.cancel_job = cancel
        self.clock = clock
        self.hold_s = hold_s
        self._holds: tuple[float, Mapping[str, float]] | None = None  # (read at, monotonic; holds)
        self._changes = 0  # this node's changes to the holds: a read older than one is not kept
        self._holds_lock = threading.Lock()

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
        self._changed()  # it holds its device from now
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
        self._touch([session.id])
        return request.model_copy(update={"labels": {**request.labels, SESSION_LABEL: session.id}})

    def ran(self, session_ids: Iterable[str]) -> None:
        """The session lane started or ended a run of these sessions' jobs: their idle time
        starts again, and their devices stay held ``hold_s`` from now."""
        self._touch(sorted({session_id for session_id in session_ids if session_id}))

    def holds(self) -> Mapping[str, float]:
        """The devices held for sessions now, each until when (epoch seconds): the targets
        of the ACTIVE sessions active within ``hold_s``, never past their max time. Read
        from the store at most every ``HOLDS_FRESH_S`` (at once after this node's own
        activity)."""
        if self.hold_s <= 0:
            return {}
        with self._holds_lock:
            if self._holds is not None and time.monotonic() - self._holds[0] < HOLDS_FRESH_S:
                return self._holds[1]
            changes = self._changes
        now = self.clock()
        held: dict[str, float] = {}
        for session in self.store.recent(now - self.hold_s):
            until = min(session.last_activity_at + self.hold_s, session.expires_at)
            if until > now:
                held[session.target] = max(held.get(session.target, 0.0), until)
        with self._holds_lock:
            if changes == self._changes:
                self._holds = (time.monotonic(), held)
        return held

    def _touch(self, session_ids: Iterable[str]) -> None:
        now = self.clock()
        for session_id in session_ids:
            self.store.touch(session_id, now)
        self._changed()

    def _changed(self) -> None:
        """This node changed a session: the next :meth:`holds` reads the store."""
        with self._holds_lock:
            self._holds = None
            self._changes += 1

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
        self._changed()  # an ended session holds nothing
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
