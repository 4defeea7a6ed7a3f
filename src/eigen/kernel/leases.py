"""A worker's claim on a job: who holds it (``worker_id``: this node) and until when
(``lease_expires_at``).

Claiming is the compare-and-set move that starts a stage (PENDING -> COMPILING, QUEUED ->
RUNNING), with the claim in its changes; a run (QUEUED -> RUNNING) also counts an attempt.
While the node works on a job its heartbeat renews the lease every third of ``lease_s``;
a node that vanishes stops renewing, and the lease sweep (:mod:`eigen.kernel.recovery`)
puts its jobs back once their leases lapsed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

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
            return set()
        renewed = self.store.renew_leases(self.worker_id, held, self.clock() + self.lease_s)
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
