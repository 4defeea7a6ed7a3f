"""Synchronous Python client over the public gRPC API (one channel, reused).

Every unary call has a deadline (``timeout``); the idempotent ones are retried by gRPC
itself (the channel's retry policy, :mod:`eigen.client.channel`). SubmitJob and
SubmitBatch are not in that policy: every submission carries an idempotency key (one
generated per call when the caller gives none; one per batch), and :class:`SubmitRetry`
sends the same request with the same key again after UNAVAILABLE, so a retry returns the
job (or the batch's jobs) already accepted rather than a second one. A circuit breaker
(:mod:`eigen.client.breaker`) fails calls fast while the server is unreachable. Errors
come back as the typed :mod:`eigen.errors` classes carried in the status details.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

import grpc

from eigen.client.breaker import BreakerState, CircuitBreaker, StreamSettlement
from eigen.client.cache import ResultCache
from eigen.client.channel import (
    ENDPOINT_ENV,
    ChannelOptions,
    RetryPolicy,
    TlsSetting,
    call_error,
    connection,
    idempotent_request,
    open_channel,
    server_took,
)
from eigen.client.futures import JobFuture
from eigen.client.inputs import SubmitOptions, Submittable, error_for_item, resolve_many, to_request
from eigen.client.job_ids import PREFIX_PAGE_SIZE, full_job_id, matching_job_id
from eigen.client.sessions import ClientSession, open_request, session_request
from eigen.client.watch import Watcher
from eigen.errors import EigenError, Unimplemented
from eigen.models.chunks import Chunk
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import JobResult
from eigen.models.session import Session
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

if TYPE_CHECKING:
    from eigen.client.batch import BatchResult

__all__ = [
    "ENDPOINT_ENV",
    "Client",
    "SubmitRetry",
    "idempotency_key_for",
    "job_id_query",
    "matching_job_id",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


def idempotency_key_for(given: str | None) -> str:
    """The key a submission carries: the caller's, else a new one (uuid4) for this one
    logical submission, so that every attempt of it names the same job."""
    return given or uuid.uuid4().hex


def job_id_query(prefix: str) -> str | jobs_pb2.ListJobsRequest:
    """The first half of resolving a job id prefix (both clients): a full-length id as is,
    else the ListJobs request that finds the jobs it starts (:func:`full_job_id`);
    InvalidArgument for text that cannot be a job id."""
    full = full_job_id(prefix)
    if full is not None:
        return full
    return jobs_pb2.ListJobsRequest(id_prefix=prefix, page_size=PREFIX_PAGE_SIZE)


class SubmitRetry:
    """When to send one keyed submission, or an idempotent call the server had taken, again
    (gRFC A6 style: wait random(0, backoff), the backoff growing by the multiplier up to
    its cap, at most ``max_attempts`` in all).

    :meth:`wait_after` takes the error of the attempt just made and gives the seconds to
    wait before the next one, or None when that error is final: not one of the policy's
    retryable codes, the attempts are used up, or the breaker opened (the server is down:
    failing now beats waiting on it). ``policy`` None: no retries.
    """

    def __init__(
        self, policy: RetryPolicy | None, breaker: CircuitBreaker, method: str = "SubmitJob"
    ) -> None:
        self.policy = policy
        self.breaker = breaker
        self.method = method
        self.attempts = 1
        self.backoff = policy.initial_backoff if policy is not None else 0.0

    def wait_after(self, error: EigenError) -> float | None:
        policy = self.policy
        if policy is None or self.attempts >= policy.max_attempts:
            return None
        if error.code.removeprefix("EIGEN_") not in policy.retryable_status_codes:
            return None
        if self.breaker.state is not BreakerState.CLOSED:
            return None
        self.attempts += 1
        wait = random.uniform(0, self.backoff)
        self.backoff = min(self.backoff * policy.backoff_multiplier, policy.max_backoff)
        log.info("%s failed (%s); sending it again", self.method, error.code)
        return wait


class Client:
    """A client of one Eigen endpoint (``host:port`` or ``https://host:port``; default
    ``$EIGEN_ENDPOINT``). The endpoint is a gRPC target, so it may name several api nodes
    (``ipv4:10.0.0.1:50051,10.0.0.2:50051``, or a DNS name with a record per node): the
    channel moves to another node when one stops (docs/cluster.md, rolling restart).

    ``api_key`` or ``token`` (default ``$EIGEN_API_KEY`` or ``$EIGEN_TOKEN``) is sent as
    ``authorization: Bearer ...`` with every call. ``tls``: None (plain, unless the endpoint
    is ``https://``), True (the system's roots) or a :class:`~eigen.client.channel.TlsOptions`
    (a CA file; a client certificate and key for mutual TLS).

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
        api_key: str | None = None,
        token: str | None = None,
        tls: TlsSetting = None,
        timeout: float = 30.0,
        caller: str = "",
        options: ChannelOptions | None = None,
        breaker: CircuitBreaker | None = None,
        cache: ResultCache | None = None,
        max_watch_streams: int = 32,
        watch_resume_timeout: float = 60.0,
    ) -> None:
        self.connection = connection(endpoint, tls=tls, api_key=api_key, token=token, caller=caller)
        self.endpoint = self.connection.address
        self.options = options or ChannelOptions(timeout=timeout)
        self.timeout = timeout if options is None else self.options.timeout
        self._metadata = self.connection.metadata  # the credential and the caller, on every call
        self.breaker = breaker or CircuitBreaker(name=f"Eigen at {self.endpoint}")
        self.cache = cache if cache is not None else ResultCache()
        self.channel = open_channel(self.endpoint, self.options, self.connection.tls)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.backends_stub = jobs_pb2_grpc.BackendServiceStub(self.channel)
        self._watcher = Watcher(self, max_watch_streams, watch_resume_timeout)
        self._batch_rpc: bool | None = None  # None: not tried yet; False: server lacks SubmitBatch

    @property
    def peer(self) -> str:
        return f"Eigen at {self.endpoint}"

    @property
    def tls(self) -> bool:
        """Whether the channel is TLS."""
        return self.connection.tls is not None

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """One unary call: breaker check, deadline, typed error. An idempotent call the
        server had taken when it failed (which gRPC does not retry) is sent again under
        the retry policy (:class:`SubmitRetry`, :func:`~eigen.client.channel.server_took`)."""
        resend = SubmitRetry(self.options.retry, self.breaker, type(request).__name__)
        while True:
            self.breaker.before_call()
            try:
                response = method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                error = call_error(exc, self.peer, self.tls)
                self.breaker.record_failure(error)
                taken = idempotent_request(request) and server_took(exc)
                wait = resend.wait_after(error) if taken else None
                if wait is None:
                    raise error from None
                time.sleep(wait)
                continue
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
        returns the job submitted first; without one, a key is generated for this call,
        so the retries after UNAVAILABLE (see :class:`SubmitRetry`) never make a second job.
        """
        request = to_request(job, **options)
        message = jobs_pb2.SubmitJobRequest(
            job=convert.request_to_pb(request), idempotency_key=idempotency_key_for(idempotency_key)
        )
        response = self._keyed_call(self.jobs.SubmitJob, message, "SubmitJob")
        return self._future(convert.job_from_pb(response.job, request))

    def _keyed_call(self, method: Any, message: Any, name: str) -> Any:
        """A keyed submission, sent again with the same key after UNAVAILABLE (:class:`SubmitRetry`)."""
        retry = SubmitRetry(self.options.retry, self.breaker, name)
        while True:
            try:
                return self._call(method, message)
            except EigenError as exc:
                wait = retry.wait_after(exc)
                if wait is None:
                    raise
                time.sleep(wait)

    def submit_batch(
        self, jobs: Iterable[Submittable], idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> list[JobFuture]:
        """Submit several jobs at once (all or none); futures in input order.

        Uses SubmitBatch, keyed as :meth:`submit` is: with ``idempotency_key`` (else one
        generated for this call) for the whole batch, sent again with the same key after
        UNAVAILABLE, so a batch whose answer was lost gives back the jobs it stored; the
        same key with other jobs is FailedPrecondition. Against a server that does not
        serve SubmitBatch, submits the jobs one by one (each with a key of its own) and
        cancels the ones already accepted if a later one is refused. Errors name the item
        as ``jobs[i]``.
        """
        requests = resolve_many(jobs, options)
        if not requests:
            return []
        if self._batch_rpc is not False:
            message = jobs_pb2.SubmitBatchRequest(
                jobs=[convert.request_to_pb(r) for r in requests],
                idempotency_key=idempotency_key_for(idempotency_key),
            )
            try:
                response = self._keyed_call(self.jobs.SubmitBatch, message, "SubmitBatch")
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

    # -- sessions ---------------------------------------------------------------------------
    def session(self, target: str, max_time: float = 0.0, idle: float = 0.0) -> ClientSession:
        """Open a session on ``target`` (``max_time`` and ``idle`` in seconds; 0: the server's
        defaults, 8 h and 300 s); use it in a ``with`` block, which closes it at the end."""
        request = open_request(target, max_time, idle)
        return ClientSession(self, convert.session_from_pb(self._call(self.jobs.OpenSession, request)))

    def get_session(self, session_id: str) -> Session:
        return convert.session_from_pb(self._call(self.jobs.GetSession, session_request(session_id)))

    def close_session(self, session_id: str) -> Session:
        return convert.session_from_pb(self._call(self.jobs.CloseSession, session_request(session_id)))

    def cancel_session(self, session_id: str) -> Session:
        return convert.session_from_pb(self._call(self.jobs.CancelSession, session_request(session_id)))

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

    def dead_letters(
        self, tenant: str = "", page_size: int = 50, page_token: str = ""
    ) -> tuple[list[DeadLetter], str]:
        """One page of the jobs given up on after ``max_attempts`` (newest first) and the
        token of the next page ("" at the end). For admins (every tenant's, or ``tenant``'s)
        and tenant admins (their own tenant's); others are PERMISSION_DENIED."""
        request = jobs_pb2.ListDeadLettersRequest(tenant=tenant, page_size=page_size, page_token=page_token)
        response = self._call(self.jobs.ListDeadLetters, request)
        return [convert.dead_letter_from_pb(d) for d in response.dead_letters], response.next_page_token

    def resolve_job_id(self, prefix: str) -> str:
        """The full id of the job that ``prefix`` names: the id itself, or the start of
        exactly one job's id (so that people can type the short ids tables show).

        A full-length id (the 32 hex digits the server assigns) comes back as is, without
        a call; any other text is looked up with one ListJobs ``id_prefix`` call, where an
        exact match wins. No such job: NotFound naming the prefix. Several: InvalidArgument
        listing up to 10 of them, each cut to what tells it from the others."""
        query = job_id_query(prefix)
        if isinstance(query, str):
            return query
        return matching_job_id(prefix, [job.id for job in self._call(self.jobs.ListJobs, query).jobs])

    def watch(self, job_id: str, after_seq: int = 0) -> Generator[JobEvent, None, None]:
        """Live events of a job until its terminal event."""
        request = jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=after_seq)
        yield from self._streamed(self.jobs.WatchJob, request, convert.event_from_pb, headers=True)

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

    def stream_results(self, job_id: str, chunk_size: int = 0) -> Generator[Chunk, None, None]:
        """The results of a DONE job in chunks of at most ``chunk_size`` values (0: the
        server's default), as StreamResults sends them: a large result (per-shot memory,
        probabilities, a state vector) is read piece by piece, never whole in one message.
        :func:`eigen.models.chunks.merge` of every chunk is :meth:`results`."""
        request = jobs_pb2.StreamResultsRequest(job_id=job_id, chunk_size=chunk_size)
        yield from self._streamed(self.jobs.StreamResults, request, convert.chunk_from_pb)

    def _streamed(
        self, method: Any, request: Any, read: Callable[[Any], T], *, headers: bool = False
    ) -> Generator[T, None, None]:
        """The messages of one server stream, each ``read``; the breaker hears how it went
        and a failure is the typed Eigen error. ``headers``: count the server's headers
        as its answer (a watch of a job with no new events yet is a success)."""
        self.breaker.before_call()
        stream = method(request, metadata=self._metadata)
        settle = StreamSettlement(self.breaker)
        try:
            if headers:
                stream.initial_metadata()  # the server's headers: it took the call
                if stream.is_active():
                    settle.success()
            for message in stream:
                settle.success()
                yield read(message)
            settle.success()
        except grpc.RpcError as exc:
            error = call_error(exc, self.peer, self.tls)
            settle.failure(error)
            raise error from None
        finally:
            stream.cancel()
            settle.release()

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
