"""The dispatch port: the queues between submission and the workers.

A job is put on a stage's queue (``enqueue``), a worker takes entries off it (``claim``),
keeps them alive while it works (``heartbeat``) and either finishes them (``ack``) or gives
them back untouched (``release``, e.g. on a drain). An entry is only a pointer to a job: who
runs the job is decided by the compare-and-set on the job row (QUEUED to RUNNING with the
worker's id, a lease and attempt + 1), so an entry delivered twice never runs its job twice.

``enqueue`` takes the store transaction the jobs are written in (``within``): a queue that
lives in the same database writes its entries there, so a job and its entry commit together
(no dual write); a queue in memory ignores it and is filled after the commit.

A device can be **held** for a session (:mod:`eigen.kernel.sessions`): while it is, the
execute stage gives out none of that device's entries (those already claimed run on), so
the session's jobs, on the session lane, have the device to themselves. A device is held
while the session lane has an entry of it (waiting or claimed), and until the time
``holds`` names for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from eigen.kernel.fair_order import FairOrder


class Stage(StrEnum):
    COMPILE = "compile"  # PENDING jobs, to be compiled
    EXECUTE = "execute"  # QUEUED jobs, compiled, to be run
    SESSION = "session"  # QUEUED jobs of a session: the session lane's (eigen.kernel.sessions)


Holds = Callable[[], Mapping[str, float]]
"""The devices held for sessions, each with the time (epoch seconds) its hold ends."""


def no_holds() -> Mapping[str, float]:
    """No device is held (no sessions)."""
    return {}


@dataclass(frozen=True)
class Entry:
    """What is put on a queue: the job, its priority (0..100, higher first), its device
    (the execute stage has a queue per device), its tenant and arrival (the job's
    submission, epoch seconds; 0: now), which fair share counts, its session, and its ``rank``: the
    queue's order, higher first, set once by the dispatch's
    :class:`~eigen.kernel.fair_order.FairOrder` at enqueue (None until then; an entry
    given back keeps it)."""

    job_id: str
    priority: int = 50
    target: str = ""
    tenant: str = ""
    arrival: float = 0.0
    rank: int | None = None
    session: str = ""  # the session its job runs in ("" when none): ranked ahead of the rest


@dataclass(frozen=True)
class Claimed:
    """An entry a worker took: ``handle`` is the queue's own reference to it (an entry
    id on PostgreSQL, None in memory), passed back to heartbeat, ack and release."""

    entry: Entry
    stage: Stage
    handle: Any = None

    @property
    def job_id(self) -> str:
        return self.entry.job_id


@dataclass(frozen=True)
class Standing:
    """Where a waiting entry stands on its queue: the entries that go before it (0: it is
    next), its rank, and its queue's capacity (concurrent executions of its device; 0: no
    limit)."""

    ahead: int
    rank: int
    slots: int = 0


class Dispatch(Protocol):
    order: FairOrder  # how entries are ranked at enqueue
    holds: Holds  # the devices sessions hold (see the module docstring); set by the kernel

    def enqueue(self, stage: Stage, entries: Sequence[Entry], *, within: Any = None) -> None:
        """Put ``entries`` on ``stage``'s queue; ``within``: the store transaction the jobs
        are written in (see the module docstring)."""

    def claim(
        self,
        stage: Stage,
        limit: int,
        timeout_s: float,
        together: Callable[[Entry], bool] | None = None,
    ) -> list[Claimed]:
        """The next entry of ``stage`` (waiting up to ``timeout_s``, ``[]`` when none came,
        or the dispatch closed) and, while it and each next one satisfy ``together``, more,
        up to ``limit``. Highest rank first (then first come first served), among the
        devices with a free execution slot (the ``device_capacity`` setting) and, on the
        execute stage, not held for a session: an entry whose device is busy or held waits
        without holding the claim back from other devices."""

    def heartbeat(self, claimed: Sequence[Claimed]) -> None:
        """Keep claimed entries from being handed to another worker while they run."""

    def ack(self, claimed: Sequence[Claimed]) -> None:
        """The entries are done with (their jobs moved on): remove them."""

    def release(self, claimed: Sequence[Claimed]) -> None:
        """Give entries back to their queue, untouched (a drain, a worker stopping)."""

    def standing(self, stage: Stage, entry: Entry) -> Standing | None:
        """Where ``entry``'s job waits on ``stage`` (its device's queue on the execute
        stage); None when it does not wait there (claimed, or not queued)."""

    def depth(self, stage: Stage | None = None) -> int:
        """Entries waiting on ``stage`` (None: on every stage)."""

    def close(self) -> None:
        """Wake every waiting ``claim`` (it answers ``[]``) and take no more entries."""
