"""Synchronous Python client over the public gRPC API (one channel, reused).

Every unary call has a deadline (``timeout``); the idempotent ones are retried by gRPC
itself (the channel's retry policy, :mod:`eigen.client.channel`); a circuit breaker
(:mod:`eigen.client.breaker`) fails calls fast while the server is unreachable. Errors
come back as the typed :mod:`eigen.errors` classes carried in the status details.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, Unpack

import grpc

from eigen.client.breaker import CircuitBreaker, StreamSettlement
from eigen.client.cache import ResultCache
from eigen.client.channel import ENDPOINT_ENV, ChannelOptions, call_error, open_channel, resolve_endpoint
from eigen.client.futures import JobFuture
from eigen.client.inputs import SubmitOptions, Submittable, error_for_item, resolve_many, to_request
from eigen.client.watch import Watcher
from eigen.errors import EigenError, Unimplemented
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import JobResult
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

if TYPE_CHECKING:
    from eigen.client.batch import BatchResult

__all__ = ["ENDPOINT_ENV", "Client"]

log = logging.getLogger(__name__)


class Client:
    """A client of one Eigen endpoint (``host:port``; default ``$EIGEN_ENDPOINT``).

    ``timeout`` is the deadline of each unary call in seconds (``options.timeout`` when
    ``options`` is given). ``options`` tunes the
    channel (retry policy, reconnect backoff, message sizes); ``breaker`` and ``cache``
    replace the default circuit breaker and result cache (``cache=None`` keeps a small
    memory cache; pass ``ResultCache(0)`` to turn caching off). At most
    ``max_watch_streams`` WatchJob streams drive futures at once.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        timeout: float = 30.0,
        caller: str = "",
        options: ChannelOptions | None = None,
        breaker: CircuitBreaker | None = None,
        cache: ResultCache | None = None,
        max_watch_streams: int = 32,
        watch_resume_timeout: float = 60.0,
    ) -> None:
        self.endpoint = resolve_endpoint(endpoint)
        self.options = options or ChannelOptions(timeout=timeout)
        self.timeout = timeout if options is None else self.options.timeout
        self._metadata: tuple[tuple[str, str], ...] = (("x-eigen-caller", caller),) if caller else ()
        self.breaker = breaker or CircuitBreaker(name=f"Eigen at {self.endpoint}")
        self.cache = cache if cache is not None else ResultCache()
        self.channel = open_channel(self.endpoint, self.options)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.backends_stub = jobs_pb2_grpc.BackendServiceStub(self.channel)
        self._watcher = Watcher(self, max_watch_streams, watch_resume_timeout)
        self._batch_rpc: bool | None = None  # None: not tried yet; False: server lacks SubmitBatch

    @property
    def peer(self) -> str:
        return f"Eigen at {self.endpoint}"

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """One unary call: breaker check, deadline, typed error."""
        self.breaker.before_call()
        try:
            response = method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            error = call_error(exc, self.peer)
            self.breaker.record_failure(error)
            raise error from None
        except BaseException:
            self.breaker.release()
            raise
        self.breaker.record_success()
        return response

    # -- submitting --------------------------------------------------------------------------
    def submit(
        self, job: Submittable, idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> JobFuture:
        """Submit one job; returns its :class:`JobFuture` (also the accepted :class:`Job`).

        ``job`` is a qiskit ``QuantumCircuit``, program text (OpenQASM 2/3, Eigen-Lang), a
        path to a job.yaml or program file, an AQO mapping or a :class:`JobRequest`;
        ``options`` (target, shots, seed, name, priority, parameter_bindings, observables,
        labels, ...) override what it says. The same ``idempotency_key`` with the same job
        returns the job submitted first.
        """
        request = to_request(job, **options)
        response = self._call(
            self.jobs.SubmitJob,
            jobs_pb2.SubmitJobRequest(job=convert.request_to_pb(request), idempotency_key=idempotency_key),
        )
        return self._future(convert.job_from_pb(response.job, request))

    def submit_batch(self, jobs: Iterable[Submittable], **options: Unpack[SubmitOptions]) -> list[JobFuture]:
        """Submit several jobs at once (all or none); futures in input order.

        Uses SubmitBatch; against a server that does not serve it, submits the jobs one by
        one and cancels the ones already accepted if a later one is refused. Errors name
        the item as ``jobs[i]``.
        """
        requests = resolve_many(jobs, options)
        if not requests:
            return []
        if self._batch_rpc is not False:
            message = jobs_pb2.SubmitBatchRequest(jobs=[convert.request_to_pb(r) for r in requests])
            try:
                response = self._call(self.jobs.SubmitBatch, message)
            except Unimplemented:
                log.info("%s does not serve SubmitBatch; submitting jobs one by one", self.peer)
                self._batch_rpc = False
            else:
                self._batch_rpc = True
                now = time.time()
                return [
                    self._future(
                        Job(id=job_id, request=r, state=JobState.PENDING, created_at=now, updated_at=now)
                    )
                    for job_id, r in zip(response.job_ids, requests, strict=True)
                ]
        return self._submit_each(requests)

    def _submit_each(self, requests: Sequence[JobRequest]) -> list[JobFuture]:
        accepted: list[JobFuture] = []
        for index, request in enumerate(requests):
            try:
                accepted.append(self.submit(request))
            except EigenError as exc:
                for future in accepted:
                    future.cancel()
                raise error_for_item(exc, index) from None
        return accepted

    def future(self, job_id: str) -> JobFuture:
        """A future for a job submitted earlier (by this or any client)."""
        return self._future(self.get(job_id))

    def run_batch(
        self,
        jobs: Iterable[Submittable],
        *,
        max_in_flight: int = 32,
        progress: bool = True,
        on_progress: Callable[[int, int | None], object] | None = None,
        timeout: float | None = None,
        **options: Unpack[SubmitOptions],
    ) -> BatchResult:
        """Run many jobs with at most ``max_in_flight`` unfinished at once, with a progress
        bar; see :class:`eigen.client.batch.BatchManager`."""
        from eigen.client.batch import BatchManager

        manager = BatchManager(self, max_in_flight=max_in_flight, progress=progress, on_progress=on_progress)
        return manager.run(jobs, timeout=timeout, **options)

    def _future(self, job: Job) -> JobFuture:
        return self._watcher.follow(JobFuture(job, self.cancel))

    # -- jobs ------------------------------------------------------------------------------
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
        """One page of jobs (newest first) and the token of the next page ("" at the end)."""
        request = jobs_pb2.ListJobsRequest(
            states=[convert.STATE_TO_PB[s] for s in states or []],
            target=target,
            labels=labels or {},
            page_size=page_size,
            page_token=page_token,
        )
        response = self._call(self.jobs.ListJobs, request)
        return [convert.job_from_pb(j) for j in response.jobs], response.next_page_token

    def watch(self, job_id: str, after_seq: int = 0) -> Generator[JobEvent, None, None]:
        """Live events of a job until its terminal event."""
        self.breaker.before_call()
        stream = self.jobs.WatchJob(
            jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=after_seq), metadata=self._metadata
        )
        settle = StreamSettlement(self.breaker)
        try:
            stream.initial_metadata()  # the server's headers: it took the call
            if stream.is_active():
                settle.success()
            for message in stream:
                settle.success()
                yield convert.event_from_pb(message)
            settle.success()
        except grpc.RpcError as exc:
            error = call_error(exc, self.peer)
            settle.failure(error)
            raise error from None
        finally:
            stream.cancel()
            settle.release()

    def wait(self, job_id: str) -> Job:
        """Block until the job is terminal (driven by WatchJob); returns the final job."""
        for _ in self.watch(job_id):
            pass
        return self.get(job_id)

    def results(self, job_id: str, wait: float = 0.0) -> JobResult:
        """The results of a DONE job (served from the cache when it has them). ``wait``:
        seconds the server waits for the job to end first (one call; no progress shown)."""
        cached = self.cache.get(job_id)
        if cached is not None:
            return cached
        request = jobs_pb2.GetJobResultsRequest(job_id=job_id, wait_seconds=wait)
        message = self._call(self.jobs.GetJobResults, request, self.options.deadline_for_wait(wait))
        result = convert.result_from_pb(message)
        self.cache.put(result)
        return result

    # -- backends --------------------------------------------------------------------------
    def backends(self) -> list[tuple[DeviceInfo, int]]:
        """Every backend with its queue depth."""
        response = self._call(self.backends_stub.ListBackends, jobs_pb2.ListBackendsRequest())
        return [(convert.device_from_pb(b), b.queue_depth) for b in response.backends]

    def backend(self, name: str) -> DeviceInfo:
        return convert.device_from_pb(
            self._call(self.backends_stub.GetBackend, jobs_pb2.GetBackendRequest(name=name))
        )

    def calibration(self, name: str) -> Calibration:
        message = self._call(self.backends_stub.GetCalibration, jobs_pb2.GetCalibrationRequest(name=name))
        return convert.calibration_from_pb(message)

    # -- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the channel; futures still running fail with FailedPrecondition."""
        self._watcher.close()
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
