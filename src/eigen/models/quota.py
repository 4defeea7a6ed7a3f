"""The quotas a policy sets on one tenant's or client's submissions, handed to the kernel as
data: the kernel, which counts the tenant's unfinished jobs and reads the program, enforces
them at submit (RESOURCE_EXHAUSTED naming the limit, metadata ``limit`` and ``value``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    max_queued_jobs: int | None = None  # unfinished jobs of the tenant (or client), this one included
    max_shots_per_job: int | None = None
    max_qubits_per_job: int | None = None

    @property
    def empty(self) -> bool:
        return self == Quota()


NO_QUOTA = Quota()
