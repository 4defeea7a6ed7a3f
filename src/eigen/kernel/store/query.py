"""Filter semantics shared by the stores (the SQL store pushes the same rules into SQL)."""

from __future__ import annotations

from eigen.kernel.store.base import JobFilter
from eigen.models.job import Job


def matches(job: Job, query: JobFilter) -> bool:
    if query.tenant is not None and job.tenant != query.tenant:
        return False
    if query.id_prefix and not job.id.startswith(query.id_prefix):
        return False
    if query.states and job.state not in query.states:
        return False
    if query.target and job.request.target != query.target:
        return False
    if any(job.request.labels.get(k) != v for k, v in query.labels.items()):
        return False
    if query.created_after is not None and job.created_at < query.created_after:
        return False
    if query.created_before is not None and job.created_at >= query.created_before:
        return False
    return query.before is None or (job.created_at, job.id) < query.before
