"""Eigen jobs seen from qiskit: submit-all-then-wait helpers and a ``JobV1`` for ``backend.run``."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from qiskit.exceptions import QiskitError
from qiskit.providers import JobError, JobStatus, JobTimeoutError, JobV1
from qiskit.result import Result

from eigen.client.channel import TlsSetting
from eigen.client.client import Client
from eigen.client.qiskit import convert
from eigen.models.job import Job, JobRequest
from eigen.models.result import JobResult
from eigen.models.state import JobState

if TYPE_CHECKING:
    from eigen.client.qiskit.backend import EigenBackend

_STATUS = {
    JobState.PENDING: JobStatus.INITIALIZING,
    JobState.COMPILING: JobStatus.VALIDATING,
    JobState.QUEUED: JobStatus.QUEUED,
    JobState.RUNNING: JobStatus.RUNNING,
    JobState.DONE: JobStatus.DONE,
    JobState.ERROR: JobStatus.ERROR,
    JobState.TIMEOUT: JobStatus.ERROR,
    JobState.CANCELLED: JobStatus.CANCELLED,
}
# The status of several Eigen jobs is the first of these that any of them is in.
_PRECEDENCE = (
    JobStatus.ERROR,
    JobStatus.CANCELLED,
    JobStatus.INITIALIZING,
    JobStatus.VALIDATING,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.DONE,
)


class EigenJobFailed(QiskitError):
    """An Eigen job ended in ERROR, TIMEOUT or CANCELLED instead of DONE."""

    def __init__(self, job: Job) -> None:
        self.job_id = job.id
        self.state = job.state
        self.error_code = job.error_code or ""
        self.error_summary = job.error_summary or ""
        detail = f": {self.error_code} {self.error_summary}".rstrip() if self.error_code else ""
        super().__init__(f"Eigen job {job.id} ended {job.state.value}{detail}")


def connect(
    client: Client | str,
    *,
    api_key: str | None = None,
    token: str | None = None,
    tls: TlsSetting = None,
) -> tuple[Client, bool]:
    """The client to use, and whether it was opened here (and so is ours to close): the
    client given, or one of the endpoint given with ``api_key``, ``token`` and ``tls``
    (see :class:`~eigen.client.Client`; with a client they must not be given, they are
    the client's own)."""
    if isinstance(client, Client):
        if api_key is not None or token is not None or tls is not None:
            raise TypeError("api_key, token and tls go with an endpoint; a Client has its own")
        return client, False
    return Client(client, api_key=api_key, token=token, tls=tls), True


def submit_all(client: Client, requests: Sequence[JobRequest]) -> list[str]:
    """Submit every request; if one is refused, cancel those already accepted."""
    job_ids: list[str] = []
    try:
        for request in requests:
            job_ids.append(client.submit(request).id)
    except BaseException:
        for job_id in job_ids:
            with contextlib.suppress(Exception):  # best effort: the refusal is the error
                client.cancel(job_id)
        raise
    return job_ids


def collect(client: Client, job_ids: Sequence[str]) -> list[JobResult]:
    """Wait for every job, then fetch every result; a job that did not finish raises."""
    finished = [client.wait(job_id) for job_id in job_ids]
    for job in finished:
        if job.state is not JobState.DONE:
            raise EigenJobFailed(job)
    return [client.results(job_id) for job_id in job_ids]


@dataclass(frozen=True)
class CircuitRun:
    """What ``EigenJob`` needs to know of one circuit to build its qiskit result."""

    header: dict[str, Any]
    num_clbits: int
    shots: int
    seed: int | None = None
    memory: bool = False


class EigenJob(JobV1):
    """The Eigen jobs (one per circuit) of one ``EigenBackend.run`` call.

    The jobs are submitted by ``run``; ``result()`` waits for all of them and returns a
    ``qiskit.result.Result`` with one experiment per circuit, in order.
    """

    def __init__(self, backend: EigenBackend, job_ids: Sequence[str], runs: Sequence[CircuitRun]) -> None:
        super().__init__(backend, ",".join(job_ids))
        self.eigen_job_ids = list(job_ids)
        self._runs = list(runs)
        self._client = backend.client
        self._result: Result | None = None

    def submit(self) -> None:
        raise JobError("EigenBackend.run submits its jobs already; submit() is not needed")

    def status(self) -> JobStatus:
        statuses = {_STATUS[self._client.get(job_id).state] for job_id in self.eigen_job_ids}
        return next((s for s in _PRECEDENCE if s in statuses), JobStatus.DONE)

    def cancel(self) -> bool:
        for job_id in self.eigen_job_ids:
            self._client.cancel(job_id)
        return True

    def result(self, timeout: float | None = None) -> Result:
        """Wait for the jobs (at most ``timeout`` seconds) and return the qiskit result.

        Raises :class:`EigenJobFailed` when a job ends in ERROR, TIMEOUT or CANCELLED.
        """
        if self._result is None:
            if timeout is not None:
                self._wait(timeout)
            results = collect(self._client, self.eigen_job_ids)
            self._result = self._to_result(results)
        return self._result

    def _wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.in_final_state():
            if time.monotonic() >= deadline:
                raise JobTimeoutError(f"Eigen jobs {self.job_id()} did not finish in {timeout} s")
            time.sleep(0.05)

    def _to_result(self, results: Sequence[JobResult]) -> Result:
        experiments = []
        for run, result in zip(self._runs, results, strict=True):
            counts = result.counts
            if run.num_clbits:
                counts = convert.marginal(counts, run.num_clbits)
                header = run.header
            else:  # Eigen measured every qubit of a circuit without classical bits
                width = len(next(iter(counts), ""))
                header = {**run.header, "memory_slots": width}
            data: dict[str, Any] = {"counts": convert.hex_counts(counts)}
            if run.memory:
                data["memory"] = convert.memory(counts, np.random.default_rng(run.seed))
            experiments.append(
                {
                    "shots": run.shots,
                    "success": True,
                    "status": "DONE",
                    "data": data,
                    "header": header,
                    "seed_simulator": result.seed,
                    "metadata": {"eigen_job_id": result.job_id},
                }
            )
        return Result.from_dict(
            {
                "backend_name": self.backend().name,
                "backend_version": self.backend().backend_version,
                "job_id": self.job_id(),
                "success": True,
                "status": "COMPLETED",
                "results": experiments,
            }
        )
