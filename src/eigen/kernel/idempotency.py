"""What an idempotency key already names: the job a tenant's and owner's key was first
used for (or the jobs of the batch it was first used for), which a retried submission
answers instead of storing a second job."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from eigen.errors import FailedPrecondition
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job, JobRequest


def keyed_job(store: JobStore, request: JobRequest, tenant: str, owner: str, key: str) -> Job | None:
    """The job ``key`` names for ``tenant`` and ``owner``, or None while it is unused;
    FAILED_PRECONDITION when that job was submitted with another payload than ``request``
    (a key is one logical submission; another tenant's or owner's key is another key)."""
    existing = store.find_by_idempotency_key(tenant, owner, key)
    if existing is not None and existing.request.fingerprint() != request.fingerprint():
        raise FailedPrecondition(
            f"idempotency key was already used for a different job payload (job {existing.id})"
        )
    return existing


def batch_item_key(key: str, index: int) -> str:
    """The idempotency key stored with job ``index`` of a batch submitted with ``key``.

    It holds a space, which a key a caller gives never does (printable ASCII without
    spaces), so a batch's keys never meet a SubmitJob's; the caller's key enters as its
    sha256, so it fits the column whatever its length."""
    return f"batch {hashlib.sha256(key.encode()).hexdigest()} {index}"


def keyed_batch(
    store: JobStore, requests: Sequence[JobRequest], tenant: str, owner: str, key: str
) -> list[Job] | None:
    """The jobs a batch with ``key`` stored for ``tenant`` and ``owner`` (input order), or
    None while the key is unused; FAILED_PRECONDITION when that batch held other jobs than
    ``requests`` (another payload, or another number of jobs). A batch is stored all or
    none, so its first job tells whether the key was used."""
    first = store.find_by_idempotency_key(tenant, owner, batch_item_key(key, 0))
    if first is None:
        return None
    jobs = [first]
    for index in range(1, len(requests) + 1):
        found = store.find_by_idempotency_key(tenant, owner, batch_item_key(key, index))
        if found is None:
            break
        jobs.append(found)
    if len(jobs) != len(requests) or any(
        job.request.fingerprint() != request.fingerprint()
        for job, request in zip(jobs, requests, strict=True)
    ):
        raise FailedPrecondition(
            f"idempotency key was already used for a different batch (its first job {first.id})"
        )
    return jobs
