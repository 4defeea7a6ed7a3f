"""A worker's claim on a job: who holds it (``worker_id``: this node) and until when
(``lease_expires_at``).

Claiming is the compare-and-set move that starts a stage (PENDING -> COMPILING, QUEUED ->
RUNNING), with the claim in its changes; a run (QUEUED -> RUNNING) also counts an attempt.
While the node works on a job its heartbeat renews the lease every third of ``lease_s``;
a node that vanishes stops renewing, and the lease sweep (:mod:`eigen.kernel.recovery`)
puts its jobs back once their leases lapsed.

A heartbeat that cannot reach the store (its database down: ``Unavailable``) is not a
vanished node: once the store answers again, the next heartbeat renews the leases that
were live when the store stopped answering, those that lapsed meanwhile included, as long
as the sweep has not taken the job (the renewal and the sweep's move are each conditional
on the job's row, so never both win). The sweep, for its part, waits one lease after its
own node finds the database again (:mod:`eigen.kernel.duties`, ``settle_s``), so that live
holders get to renew first. A lease that lapsed while the store answered is never renewed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from eigen.errors import Unavailable
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job
from eigen.models.panics import describe, must_escape

log = logging.getLogger(__name__)


class Leases:
    def __init__(
        self,
        store: JobStore,
        worker_id: str,
        lease_s: float = 10.0,
        *,
        held: Callable[[], list[str]] = list,
        beat: Callable[[], None] | None = None,
        stopping: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``held``: the jobs this node's workers hold now (what the heartbeat renews);
        ``beat``: what else each heartbeat keeps alive (the claimed queue entries)."""
        self.store = store
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.held = held
        self.beat = beat
        self.stopping = stopping or threading.Event()
        self.clock = clock
        # when a renewal first found the store unreachable, since the last that reached it
        self._unanswered_since: float | None = None

    def claim(self, job: Job, run: bool = False) -> dict[str, Any]:
        """The changes of the move that claims ``job`` (``run``: QUEUED -> RUNNING, an attempt)."""
        changes: dict[str, Any] = {
            "worker_id": self.worker_id,
            "lease_expires_at": self.clock() + self.lease_s,
        }
        if run:
            changes["attempt"] = job.attempt + 1
        return changes

    def renew(self) -> set[str]:
        """Renew the leases of the jobs held now; the ids renewed. A held job not renewed
        lost its lease (it lapsed: the sweep may give it to another worker)."""
        held = self.held()
        if not held:
            self._unanswered_since = None  # nothing whose lease could have lapsed meanwhile
            return set()
        now = self.clock()
        # after an outage: the leases live when the store stopped answering (see the module docstring)
        live_at = now if self._unanswered_since is None else self._unanswered_since
        try:
            renewed = self.store.renew_leases(self.worker_id, held, now + self.lease_s, now=live_at)
        except Unavailable:
            if self._unanswered_since is None:
                self._unanswered_since = now
            raise
        if self._unanswered_since is not None:
            self._unanswered_since = None
            log.info("leases renewed after the store could not be reached", extra={"renewed": len(renewed)})
        for job_id in sorted(set(held) - renewed):  # ended meanwhile, or its lease lapsed
            log.debug(
                "a held job's lease was not renewed", extra={"job_id": job_id, "worker": self.worker_id}
            )
        return renewed

    def loop(self) -> None:
        """The heartbeat thread: :meth:`renew` every third of ``lease_s``, then ``beat``.
        The leases go first and neither waits on the other's failure: a lease decides who
        may finish a job, a queue entry's heartbeat only when it is picked again."""
        steps: list[tuple[str, Callable[[], object]]] = [("renewing leases", self.renew)]
        if self.beat is not None:
            steps.append(("the heartbeat of claimed entries", self.beat))
        while not self.stopping.wait(self.lease_s / 3):
            for what, step in steps:
                try:
                    step()
                except BaseException as exc:  # e.g. the store is unreachable: the next beat tries again
                    if must_escape(exc):
                        raise
                    log.warning(f"{what} failed", extra={"error": describe(exc)})
