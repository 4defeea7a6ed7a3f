"""The kernel's read of its dead letters: the jobs it gave up on after ``max_attempts``.

A job whose worker kept disappearing ends in ERROR and leaves a dead letter in the job
store (:meth:`~eigen.kernel.store.base.JobStore.add_dead_letter`). This is what the
kernel's ``dead_letters`` answers, in process or behind KernelService: a page of them,
newest first, for the service layer to page through (it asks for one more than a page).
Who may see which tenant's is the service layer's and the KernelService servicer's
decision, not this read's.
"""

from __future__ import annotations

from eigen.kernel.store.base import JobStore
from eigen.models.dead_letter import DeadLetter

MAX_LIMIT = 10_000
"""The most dead letters one read returns (what ``eigen-server dead-letters`` allows)."""


def list_dead_letters(
    store: JobStore, tenant: str | None, limit: int, before: tuple[float, str] | None
) -> list[DeadLetter]:
    """Up to ``limit`` (1 to :data:`MAX_LIMIT`, clamped) dead letters before the keyset
    cursor ``before`` (the (at, job_id) of the last one already seen), ``tenant``'s only
    when given, newest first."""
    return store.dead_letters(tenant=tenant, limit=min(max(limit, 1), MAX_LIMIT), before=before)
