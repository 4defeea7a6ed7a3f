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
plus the jobs this kernel admitted and has not stored yet (the moment a job is stored it
leaves that set). Two tenants' submissions never wait on each other, and the limit holds
under concurrent submissions: a job stored at the very moment another submission counts
may be counted twice by it (that one is refused early, never admitted over the limit).
Kernels sharing one PostgreSQL each count their own admitted jobs only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from eigen.errors import ResourceExhausted
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job
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
    this kernel's admitted jobs not yet stored."""

    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._storing: dict[str, set[str]] = {}  # tenant -> ids admitted, not yet stored

    def admit(self, tenant: str, quota: Quota, jobs: Sequence[Job]) -> None:
        """Admit the new ``jobs`` of ``tenant``, or refuse them all (RESOURCE_EXHAUSTED)
        when they would go over ``max_queued_jobs``. Admitted jobs count here until
        :meth:`release` (once stored, they count in the store). It reads the store: call it
        off an event loop."""
        limit = quota.max_queued_jobs
        if limit is None:
            return
        ids = {job.id for job in jobs}
        with self._lock:  # admitted before counting: a submission counting after this counts it
            storing = self._storing.setdefault(tenant, set())
            others = set(storing)
            storing.update(ids)
        try:
            # each job once: the others admitted here (stored or not yet), and the store's
            # other unfinished jobs
            unfinished = self._store.count_unfinished(tenant, exclude=others) + len(others)
        except BaseException:
            self.release(jobs)
            raise
        if unfinished + len(ids) > limit:
            self.release(jobs)
            what = "this job" if len(ids) == 1 else f"this batch of {len(ids)} jobs"
            raise exhausted(
                MAX_QUEUED_JOBS,
                limit,
                f"the tenant has {unfinished} unfinished jobs; {what} would make {unfinished + len(ids)}",
            )

    @contextmanager
    def admitting(self, tenant: str, quota: Quota, jobs: Sequence[Job]) -> Iterator[None]:
        """:meth:`admit` the jobs for as long as the block stores them."""
        self.admit(tenant, quota, jobs)
        try:
            yield
        finally:
            self.release(jobs)

    def release(self, jobs: Iterable[Job]) -> None:
        """``jobs`` are stored (counted in the store from now on) or were refused."""
        if not self._storing:  # nothing admitted under a quota: nothing to forget
            return
        with self._lock:
            for job in jobs:
                storing = self._storing.get(job.tenant)
                if storing is not None:
                    storing.discard(job.id)
                    if not storing:
                        del self._storing[job.tenant]
