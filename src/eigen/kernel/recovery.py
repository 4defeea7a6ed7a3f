"""What a kernel resumes: unfinished jobs whose worker is gone.

A kernel alone on its store (memory dispatch: one kernel per data folder, which the
folder's lock guarantees) resumes every unfinished job when it starts: PENDING and
COMPILING ones are compiled again, QUEUED ones re-queued, RUNNING ones (a lease nobody
renews any more) run again. A kernel sharing its store with others (a cluster) touches
only jobs whose lease expired: the lease sweep (:meth:`Recovery.sweep`, a singleton duty)
puts them back, or ends them in ERROR once they ran ``max_attempts`` times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from eigen.kernel.lifecycle import Lifecycle
from eigen.models.job import Job
from eigen.models.state import JobState

log = logging.getLogger(__name__)

UNFINISHED = (JobState.PENDING, JobState.COMPILING, JobState.QUEUED, JobState.RUNNING)


class Recovery:
    def __init__(
        self, lifecycle: Lifecycle, resume: Callable[[Job, str], None], *, shared: bool = False
    ) -> None:
        """``resume`` puts a job back on its queue; ``shared``: other kernels use the store."""
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.resume = resume
        self.shared = shared

    def recover(self) -> None:
        """At start: resume what a previous run left (alone on the store: everything
        unfinished; sharing it: nothing here, the lease sweep takes expired leases)."""
        if self.shared:
            return
        for job in self.store.in_states(UNFINISHED):
            self.resume(job, "requeued after a restart")
            log.info("resumed job", extra={"job_id": job.id, "state": job.state.value})
