"""What an idempotency key already names: the job a tenant's and owner's key was first
used for, which a retried submission answers instead of storing a second job."""

from __future__ import annotations

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
