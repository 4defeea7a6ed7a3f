"""A session: a span of time in which one tenant's jobs on one device run back to back,
ahead of the queue (like Qiskit Runtime's sessions; docs/scheduling.md, "Sessions").

A session is ACTIVE from its opening until it is closed (by its owner, or after ``idle_s``
with no job submitted in it), cancelled, or reaches ``max_time_s``. Closing takes no more
jobs and lets those already in it finish; cancelling and expiry also cancel its jobs that
have not ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eigen.models.job import JobRequest

SESSION_LABEL = "scheduler.eigen.os/session"  # the label a session's jobs carry
DEFAULT_MAX_TIME_S = 8 * 3600.0
DEFAULT_IDLE_S = 300.0
MAX_TIME_S_MAX = 7 * 24 * 3600.0


def session_of(request: JobRequest) -> str:
    """The session a stored request was admitted into ("" when none)."""
    return request.labels.get(SESSION_LABEL, "")


class SessionState(StrEnum):
    ACTIVE = "ACTIVE"  # takes jobs; its jobs go ahead of the queue
    CLOSED = "CLOSED"  # takes no more jobs; those in it still finish, ahead of the queue
    CANCELLED = "CANCELLED"  # cancelled by request: its unfinished jobs were cancelled
    EXPIRED = "EXPIRED"  # reached its max time: its unfinished jobs were cancelled


@dataclass(frozen=True)
class Session:
    id: str
    tenant: str
    owner: str
    target: str
    state: SessionState
    created_at: float
    max_time_s: float
    idle_s: float
    last_activity_at: float  # its opening, then each job submitted in it
    ended_at: float | None = None  # when it left ACTIVE
    reason: str = ""  # why it left ACTIVE

    @property
    def expires_at(self) -> float:
        return self.created_at + self.max_time_s

    @property
    def idle_at(self) -> float:
        return self.last_activity_at + self.idle_s

    def due(self, now: float) -> tuple[SessionState, str] | None:
        """The state an ACTIVE session is due to move to at ``now`` and why (None: none)."""
        if self.state is not SessionState.ACTIVE:
            return None
        if now >= self.expires_at:
            return SessionState.EXPIRED, f"reached its max time of {self.max_time_s:g} s"
        if now >= self.idle_at:
            return SessionState.CLOSED, f"idle for {self.idle_s:g} s"
        return None
