"""Synchronous Python client over the public gRPC API (one channel, reused).

Errors come back as the typed :mod:`eigen.errors` classes carried in the status details.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc

from eigen.jobfile import load_job_file
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.proto.status import error_from_rpc

T = TypeVar("T")
ENDPOINT_ENV = "EIGEN_ENDPOINT"


class Client:
    def __init__(self, endpoint: str | None = None, *, timeout: float = 30.0, caller: str = "") -> None:
        self.endpoint = endpoint or os.environ.get(ENDPOINT_ENV) or "127.0.0.1:50051"
        self.timeout = timeout
        self._metadata: tuple[tuple[str, str], ...] = (("x-eigen-caller", caller),) if caller else ()
        self.channel = grpc.insecure_channel(self.endpoint)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.backends_stub = jobs_pb2_grpc.BackendServiceStub(self.channel)

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, f"Eigen at {self.endpoint}") from None

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, job: JobRequest | str | Path, idempotency_key: str = "") -> Job:
        """Submit a JobRequest or a job.yaml path; returns the accepted job."""
        request = job if isinstance(job, JobRequest) else load_job_file(job)
        response = self._call(
            self.jobs.SubmitJob,
            jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(request), idempotency_key=idempotency_key),
        )
        return convert.job_from_pb(response.job, request)

    def get(self, job_id: str) -> Job:
        return convert.job_from_pb(self._call(self.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id)))

    def cancel(self, job_id: str) -> Job:
        return convert.job_from_pb(self._call(self.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id)))

    def list_jobs(
        self,
        states: list[JobState] | None = None,
        target: str = "",
        labels: dict[str, str] | None = None,
        page_size: int = 50,
        page_token: str = "",
    ) -> tuple[list[Job], str]:
        request = jobs_pb2.ListJobsRequest(
            states=[convert.STATE_TO_PB[s] for s in states or []],
            target=target,
            labels=labels or {},
            page_size=page_size,
            page_token=page_token,
        )
        response = self._call(self.jobs.ListJobs, request)
        return [convert.job_from_pb(j) for j in response.jobs], response.next_page_token

    def watch(self, job_id: str, after_seq: int = 0) -> Iterator[JobEvent]:
        """Live events of a job until its terminal event."""
        stream = self.jobs.WatchJob(
            jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=after_seq), metadata=self._metadata
        )
        try:
            for message in stream:
                yield convert.event_from_pb(message)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, f"Eigen at {self.endpoint}") from None
        finally:
            stream.cancel()

    def wait(self, job_id: str) -> Job:
        """Block until the job is terminal (driven by WatchJob); returns the final job."""
        for _ in self.watch(job_id):
            pass
        return self.get(job_id)

    def results(self, job_id: str) -> JobResult:
        message = self._call(self.jobs.GetJobResults, jobs_pb2.GetJobResultsRequest(job_id=job_id))
        return convert.result_from_pb(message)

    # -- backends --------------------------------------------------------------------------
    def backends(self) -> list[tuple[DeviceInfo, int]]:
        response = self._call(self.backends_stub.ListBackends, jobs_pb2.ListBackendsRequest())
        return [(convert.device_from_pb(b), b.queue_depth) for b in response.backends]

    def backend(self, name: str) -> DeviceInfo:
        return convert.device_from_pb(
            self._call(self.backends_stub.GetBackend, jobs_pb2.GetBackendRequest(name=name))
        )

    def calibration(self, name: str) -> Calibration:
        message = self._call(self.backends_stub.GetCalibration, jobs_pb2.GetCalibrationRequest(name=name))
        return convert.calibration_from_pb(message)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
