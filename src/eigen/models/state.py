"""Job states and the one table of legal transitions (ARCHITECTURE section 5)."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    PENDING = "PENDING"
    COMPILING = "COMPILING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    DONE = "DONE"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.DONE, JobState.ERROR, JobState.CANCELLED, JobState.TIMEOUT}
)

_ENDINGS = frozenset({JobState.ERROR, JobState.CANCELLED, JobState.TIMEOUT})

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.COMPILING}) | _ENDINGS,
    # COMPILING -> PENDING and RUNNING -> QUEUED: a stage's claim given back (the worker
    # vanished: its lease lapsed, or its server stopped), so the job waits for it again.
    JobState.COMPILING: frozenset({JobState.QUEUED, JobState.PENDING}) | _ENDINGS,
    JobState.QUEUED: frozenset({JobState.RUNNING}) | _ENDINGS,
    JobState.RUNNING: frozenset({JobState.DONE, JobState.QUEUED}) | _ENDINGS,
    JobState.DONE: frozenset(),
    JobState.ERROR: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMEOUT: frozenset(),
}


def can_transition(source: JobState, target: JobState) -> bool:
    return target in TRANSITIONS[source]
