"""A tenant's quotas, enforced at submission before anything is stored.

The kernel does not know policies: the api role hands it the submitter's tenant and
:class:`~eigen.models.quota.Quota` as data, and the kernel, which reads the program and
counts the jobs, checks them here:

- ``max_shots_per_job``: the shots the job samples with, as it will run (the job's, else
  the program's, else the default; see :func:`eigen.kernel.workloads.job_shots`);
- ``max_qubits_per_job``: the program's qubit count as the compiler's validation read it
  (the number the kernel checks against the device);
- ``max_queued_jobs``: the tenant's unfinished jobs (every state but the terminal ones)
  with this submission's jobs; a batch counts all of its jobs, and is refused whole.

Each refusal is RESOURCE_EXHAUSTED naming the limit and its value (metadata ``limit`` and
``value``). No retry delay is suggested: a quota frees up when the tenant's jobs end.

The unfinished jobs are counted in the store (the record every kernel sharing it sees),
plus the submissions of this kernel that are admitted and not yet stored. Two tenants'
submissions never wait on each other; a submission racing another of its tenant that is
being stored is counted with it, so the limit holds (at worst one is refused early).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from eigen.errors import ResourceExhausted
from eigen.kernel.store.base import JobStore
from eigen.models.quota import Quota

MAX_QUEUED_JOBS = "max_queued_jobs"
MAX_SHOTS_PER_JOB = "max_shots_per_job"
MAX_QUBITS_PER_JOB = "max_qubits_per_job"


def exhausted(limit: str, value: int, what: str) -> ResourceExhausted:
    """The refusal of a submission over the quota ``limit`` (whose value is ``value``)."""
    return ResourceExhausted(
        f"quota {limit} is {value}: {what}", metadata={"limit": limit, "value": str(value)}
    )


def check_job(quota: Quota, *, shots: int, qubits: int) -> None:
    """Refuse one job over ``max_shots_per_job`` or ``max_qubits_per_job``."""
    if quota.max_shots_per_job is not None and shots > quota.max_shots_per_job:
        raise exhausted(MAX_SHOTS_PER_JOB, quota.max_shots_per_job, f"the job asks for {shots} shots")
    if quota.max_qubits_per_job is not None and qubits > quota.max_qubits_per_job:
        raise exhausted(MAX_QUBITS_PER_JOB, quota.max_qubits_per_job, f"the program uses {qubits} qubits")


class QueuedJobs:
    """``max_queued_jobs`` of each tenant: the store's count of its unfinished jobs, and
    this kernel's admitted submissions still being stored."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._storing: Counter[str] = Counter()

    @contextmanager
    def admit(self, tenant: str, quota: Quota, count: int) -> Iterator[None]:
        """Admit ``count`` new jobs of ``tenant`` for as long as the block stores them, or
        refuse them all (RESOURCE_EXHAUSTED) when they would go over ``max_queued_jobs``."""
        limit = quota.max_queued_jobs
        if limit is None:
            yield
            return
        with self._lock:  # counted before this submission's own: a later one counts this
            storing = self._storing[tenant]
            self._storing[tenant] += count
        try:
            unfinished = self._store.count_unfinished(tenant) + storing
            if unfinished + count > limit:
                jobs = "job" if count == 1 else f"batch of {count} jobs"
                raise exhausted(
                    MAX_QUEUED_JOBS,
                    limit,
                    f"the tenant has {unfinished} unfinished jobs; this {jobs} would make "
                    f"{unfinished + count}",
                )
            yield
        finally:
            with self._lock:
                self._storing[tenant] -= count
                if self._storing[tenant] <= 0:
                    del self._storing[tenant]
