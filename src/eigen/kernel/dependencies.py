"""Job dependencies: a job that names other jobs waits, PENDING, until each of them is DONE.

A dependency is an existing job of the submitter's tenant (another tenant's job is refused
exactly as a missing one is), so it is stored before its dependant: a cycle cannot form, and
a job cannot depend on itself (its id does not exist before it is stored). The links are
stored with the job (:meth:`~eigen.kernel.store.base.JobStore.dependants`), so whichever
node ends a job finds the jobs that wait for it.

A job whose dependencies are not all DONE is stored without a compile queue entry, with the
progress ``{"phase": "WAITING", "waiting_for": [ids]}``. :meth:`Dependencies.settle` gives it
its due move, from the stored states of its dependencies: all DONE, it is released (its
progress cleared, compare-and-set, so two nodes settling it at once release it once, with
its compile queue entry in the same transaction); one ended in ERROR, CANCELLED or TIMEOUT, it ends in ERROR
(``EIGEN_DEPENDENCY_FAILED``, naming the dependency and its state), and that end settles
its own dependants in turn; a PipelineJob stage with ``failure_semantics: continue`` goes
on without a failed dependency it reads no input from (:func:`eigen.kernel.stages.tolerated`).
A job is settled when a job it depends on ends, right after it is stored (a dependency that
ended meanwhile, or before: a pipeline submitted in one go behaves the same whatever the
timing), and at a kernel's start (:mod:`eigen.kernel.recovery`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from eigen.errors import InvalidArgument
from eigen.kernel import stages
from eigen.kernel.dispatch.port import Stage
from eigen.kernel.lifecycle import Lifecycle
from eigen.kernel.queueing import Queueing
from eigen.kernel.store.base import JobStore
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.panics import describe, must_escape
from eigen.models.state import JobState

log = logging.getLogger(__name__)

DEPENDENCY_FAILED_CODE = "EIGEN_DEPENDENCY_FAILED"
WAITING = "WAITING"
FAILED_ENDS = (JobState.ERROR, JobState.CANCELLED, JobState.TIMEOUT)


def check_dependencies(store: JobStore, request: JobRequest, tenant: str) -> None:
    """Refuse a request naming a job that is not one of ``tenant``'s (INVALID_ARGUMENT on
    ``dependencies[i]``; another tenant's job reads as a missing one)."""
    stages.check_stage(store, request, tenant)  # a PipelineJob's stages upstream, named by their fields
    for index, job_id in enumerate(request.dependencies):
        found = store.get(job_id)
        if found is None or found.tenant != tenant:
            raise InvalidArgument.for_field(f"dependencies[{index}]", f"no job {job_id!r}")


def waiting_progress(waiting_for: Sequence[str]) -> dict[str, Any]:
    """The progress a waiting job shows."""
    return {"phase": WAITING, "waiting_for": list(waiting_for)}


def is_waiting(job: Job) -> bool:
    """Whether ``job`` is held back for its dependencies."""
    return job.state is JobState.PENDING and job.progress.get("phase") == WAITING


class Dependencies:
    def __init__(self, lifecycle: Lifecycle, queueing: Queueing) -> None:
        self.lifecycle = lifecycle
        self.store = lifecycle.store
        self.queueing = queueing

    def unfinished(self, request: JobRequest) -> list[str]:
        """The dependencies of ``request`` that are not DONE (missing ones count as such)."""
        heads = {job_id: self.store.head(job_id) for job_id in dict.fromkeys(request.dependencies)}
        return [job_id for job_id, head in heads.items() if head is None or head[0] is not JobState.DONE]

    def ended(self, event: JobEvent) -> None:
        """Lifecycle hook: a job ended; settle the jobs that wait for it. A failure is
        logged, never raised into the move that ended the job."""
        try:
            dependants = self.store.dependants(event.job_id)
        except BaseException as exc:
            if must_escape(exc):
                raise
            failure = {"job_id": event.job_id, "error": describe(exc)}
            log.error("finding a job's dependants failed", extra=failure)
            return
        for job_id in dependants:
            self.settle(job_id)

    def settle(self, job_id: str) -> None:
        """Give a waiting job its due move (see the module docstring); nothing when it is
        not waiting or still has dependencies running. Errors are logged."""
        try:
            self._settle(job_id)
        except BaseException as exc:
            if must_escape(exc):
                raise
            log.error(
                "settling a job's dependencies failed",
                extra={"job_id": job_id, "error": describe(exc)},
            )

    def _settle(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job is None or not is_waiting(job):
            return
        pending: list[str] = []
        tolerated: set[str] | None = None
        for depends_on in dict.fromkeys(job.request.dependencies):
            head = self.store.head(depends_on)
            state = head[0] if head is not None else JobState.ERROR
            if state in FAILED_ENDS:
                if tolerated is None:  # a PipelineJob stage may go on without it
                    tolerated = stages.tolerated(self.store, job)
                if depends_on in tolerated:
                    continue
                self._fail(job, depends_on, state)
                return
            if state is not JobState.DONE:
                pending.append(depends_on)
        if pending:
            if pending != job.progress.get("waiting_for"):
                self.lifecycle.note(job, waiting_progress(pending), f"waiting for {len(pending)} job(s)")
            return
        # once, whoever settles it first; its queue entry commits with the release
        if self.lifecycle.note(job, {}, "dependencies done", then=self.queueing.within(Stage.COMPILE, [job])):
            self.queueing.after(Stage.COMPILE, [job])

    def _fail(self, job: Job, depends_on: str, state: JobState) -> None:
        summary = f"dependency {depends_on} ended in {state.value}"
        error: dict[str, Any] = {"error_code": DEPENDENCY_FAILED_CODE, "error_summary": summary}
        self.lifecycle.move(job.id, JobState.ERROR, summary, data=error, progress={}, **error)
