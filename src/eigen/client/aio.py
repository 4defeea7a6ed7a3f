"""The asyncio client: the same API as :class:`eigen.client.Client`, awaitable.

One ``grpc.aio`` channel per client, with the same deadlines, gRPC retry policy and
circuit breaker as the synchronous client. Create and use it inside one event loop
(``async with AsyncClient(...) as client``). Futures are driven by one WatchJob stream
per job, followed by an asyncio task (at most ``max_watch_streams`` at once). Sessions:
``async with client.session(target) as session: await session.submit(...)``
(:class:`~eigen.client.sessions.AsyncClientSession`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import aclosing
from types import TracebackType
from typing import Any, Self, Unpack

import grpc
import grpc.aio

from eigen.client.breaker import CircuitBreaker, StreamSettlement
from eigen.client.cache import ResultCache
from eigen.client.channel import (
    ChannelOptions,
    TlsSetting,
    call_error,
    connection,
    idempotent_request,
    open_aio_channel,
    server_took,
)
from eigen.client.client import SubmitRetry, idempotency_key_for, job_id_query, matching_job_id
from eigen.client.futures import ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, LiveJob, job_error
from eigen.client.inputs import SubmitOptions, Submittable, error_for_item, resolve_many, to_request
from eigen.client.sessions import AsyncClientSession, OpeningSession, open_request, session_request
from eigen.client.watch import TRANSIENT, client_closed
from eigen.errors import EigenError, Unimplemented
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.result import JobResult
from eigen.models.session import Session
from eigen.models.state import JobState
from eigen.models.target import Calibration, DeviceInfo
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

__all__ = ["AsyncClient", "AsyncJobFuture", "as_completed", "wait"]

log = logging.getLogger(__name__)


class AsyncJobFuture(LiveJob):
    """The future of one job submitted through :class:`AsyncClient` (``await future``)."""

    def __init__(self, job: Job, cancel_job: Callable[[str], Awaitable[Job]]) -> None:
        self._adopt(job)
        self._cancel_job = cancel_job
        self._outcome: asyncio.Future[JobResult] = asyncio.get_running_loop().create_future()
        # Mark a failure as seen, so an unawaited failed future does not log a warning.
        self._outcome.add_done_callback(lambda f: f.cancelled() or f.exception())

    def done(self) -> bool:
        return self._outcome.done()

    def cancelled(self) -> bool:
        return self._outcome.done() and self.state is JobState.CANCELLED

    async def result(self, timeout: float | None = None) -> JobResult:
        """The results once DONE; the typed error otherwise; TimeoutError after ``timeout`` s."""
        return await asyncio.wait_for(asyncio.shield(self._outcome), timeout)

    async def exception(self, timeout: float | None = None) -> BaseException | None:
        await asyncio.wait({self._outcome}, timeout=timeout)
        if not self._outcome.done():
            raise TimeoutError(f"job {self.id} did not end within {timeout}s")
        return self._outcome.exception()

    def __await__(self) -> Any:
        return self.result().__await__()

    def add_done_callback(self, fn: Callable[[AsyncJobFuture], object]) -> None:
        """Call ``fn(future)`` from the event loop when the job ends."""
        self._outcome.add_done_callback(lambda _: fn(self))

    async def cancel(self) -> bool:
        """Ask the server to cancel the job. True when the job is (now) CANCELLED."""
        if self.done():
            return False
        try:
            job = await self._cancel_job(self.id)
        except EigenError as exc:
            log.info("cancel of job %s refused: %s", self.id, exc)
            return False
        if job.state.terminal:
            self._apply_job(job)
            self._set_exception(job_error(job))
        return job.state is JobState.CANCELLED

    def _set_result(self, result: JobResult) -> None:
        if not self._outcome.done():
            self._outcome.set_result(result)

    def _set_exception(self, error: BaseException) -> None:
        if not self._outcome.done():
            self._outcome.set_exception(error)


class AsyncClient:
    """An asyncio client of one Eigen endpoint; see :class:`eigen.client.Client` (the same
    ``api_key``, ``token`` and ``tls``)."""

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
        self.timeout = self.options.timeout
        self._metadata = self.connection.metadata  # the credential and the caller, on every call
        self.breaker = breaker or CircuitBreaker(name=f"Eigen at {self.endpoint}")
        self.cache = cache if cache is not None else ResultCache()
        self.channel = open_aio_channel(self.endpoint, self.options, self.connection.tls)
        self.jobs = jobs_pb2_grpc.JobServiceStub(self.channel)
        self.backends_stub = jobs_pb2_grpc.BackendServiceStub(self.channel)
        self.watch_resume_timeout = watch_resume_timeout
        self._streams = asyncio.Semaphore(max_watch_streams)
        self._tasks: dict[AsyncJobFuture, asyncio.Task[None]] = {}
        self._closed = False
        self._batch_rpc: bool | None = None

    @property
    def peer(self) -> str:
        return f"Eigen at {self.endpoint}"

    @property
    def tls(self) -> bool:
        """Whether the channel is TLS."""
        return self.connection.tls is not None

    async def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        """:meth:`eigen.client.Client._call`: an idempotent call the server had taken when
        it failed is sent again under the retry policy."""
        resend = SubmitRetry(self.options.retry, self.breaker, type(request).__name__)
        while True:
            self.breaker.before_call()
            try:
                response = await method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                error = aio_error(exc, self.peer, self.tls)
                self.breaker.record_failure(error)
                taken = idempotent_request(request) and server_took(exc)
                wait = resend.wait_after(error) if taken else None
                if wait is None:
                    raise error from None
                await asyncio.sleep(wait)
                continue
            except BaseException:
                self.breaker.release()
                raise
            self.breaker.record_success()
            return response

    # -- submitting --------------------------------------------------------------------------
    async def submit(
        self, job: Submittable, idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> AsyncJobFuture:
        """Submit one job (see :meth:`eigen.client.Client.submit`); returns its future.

        Always keyed (a key is generated when none is given) and sent again with the same
        key after UNAVAILABLE (:class:`eigen.client.client.SubmitRetry`): one job, however
        many attempts it took."""
        request = to_request(job, **options)
        message = jobs_pb2.SubmitJobRequest(
            job=convert.request_to_pb(request), idempotency_key=idempotency_key_for(idempotency_key)
        )
        response = await self._keyed_call(self.jobs.SubmitJob, message, "SubmitJob")
        return self._future(convert.job_from_pb(response.job, request))

    async def _keyed_call(self, method: Any, message: Any, name: str) -> Any:
        """A keyed submission, sent again with the same key after UNAVAILABLE (:class:`SubmitRetry`)."""
        retry = SubmitRetry(self.options.retry, self.breaker, name)
        while True:
            try:
                return await self._call(method, message)
            except EigenError as exc:
                wait = retry.wait_after(exc)
                if wait is None:
                    raise
                await asyncio.sleep(wait)

    async def submit_batch(
        self, jobs: Iterable[Submittable], idempotency_key: str = "", **options: Unpack[SubmitOptions]
    ) -> list[AsyncJobFuture]:
        """Submit several jobs at once (all or none), keyed and retried as a submission is;
        see :meth:`eigen.client.Client.submit_batch`."""
        requests = resolve_many(jobs, options)
        if not requests:
            return []
        if self._batch_rpc is not False:
            message = jobs_pb2.SubmitBatchRequest(
                jobs=[convert.request_to_pb(r) for r in requests],
                idempotency_key=idempotency_key_for(idempotency_key),
            )
            try:
                response = await self._keyed_call(self.jobs.SubmitBatch, message, "SubmitBatch")
            except Unimplemented:
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
        return await self._submit_each(requests)

    async def _submit_each(self, requests: Sequence[JobRequest]) -> list[AsyncJobFuture]:
        accepted: list[AsyncJobFuture] = []
        for index, request in enumerate(requests):
            try:
                accepted.append(await self.submit(request))
            except EigenError as exc:
                for future in accepted:
                    await future.cancel()
                raise error_for_item(exc, index) from None
        return accepted

    async def future(self, job_id: str) -> AsyncJobFuture:
        """A future for a job submitted earlier."""
        return self._future(await self.get(job_id))

    def _future(self, job: Job) -> AsyncJobFuture:
        future = AsyncJobFuture(job, self.cancel)
        if self._closed:
            future._set_exception(client_closed(job.id))
            return future
        task = asyncio.get_running_loop().create_task(self._follow(future), name=f"eigen-watch-{job.id}")
        self._tasks[future] = task
        task.add_done_callback(lambda _: self._tasks.pop(future, None))
        return future

    async def _follow(self, future: AsyncJobFuture) -> None:
        try:
            async with self._streams:
                await self._follow_stream(future)
        except asyncio.CancelledError:
            future._set_exception(client_closed(future.id))
            raise
        except BaseException as exc:
            log.exception("watching job %s failed", future.id)
            future._set_exception(exc)

    async def _follow_stream(self, future: AsyncJobFuture) -> None:
        outage_since: float | None = None
        delay = 0.1
        while not future.done():
            try:
                async with aclosing(self.watch(future.id, after_seq=future.last_seq)) as events:
                    async for event in events:
                        future._apply_event(event)
                        outage_since, delay = None, 0.1
                        if event.terminal:
                            break
                job = await self.get(future.id)
                future._apply_job(job)
                if job.state.terminal:
                    if job.state is JobState.DONE:
                        future._set_result(await self.results(job.id))
                    else:
                        future._set_exception(job_error(job))
                    return
            except TRANSIENT as exc:
                now = time.monotonic()
                outage_since = outage_since or now
                if now - outage_since >= self.watch_resume_timeout:
                    future._set_exception(exc)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except EigenError as exc:
                future._set_exception(client_closed(future.id) if self._closed else exc)
                return

    # -- sessions ---------------------------------------------------------------------------
    def session(self, target: str, max_time: float = 0.0, idle: float = 0.0) -> OpeningSession:
        """Open a session on ``target`` (see :meth:`eigen.client.Client.session`): ``async
        with client.session(target) as session`` opens it and closes it at the end of the
        block; ``await client.session(target)`` returns the open
        :class:`~eigen.client.sessions.AsyncClientSession`. OpenSession is sent once (it is
        not idempotent); the calls on an open session are retried like GetJob."""

        async def opening() -> AsyncClientSession:
            message = await self._call(self.jobs.OpenSession, open_request(target, max_time, idle))
            return AsyncClientSession(self, convert.session_from_pb(message))

        return OpeningSession(opening)

    async def get_session(self, session_id: str) -> Session:
        return convert.session_from_pb(await self._call(self.jobs.GetSession, session_request(session_id)))

    async def close_session(self, session_id: str) -> Session:
        return convert.session_from_pb(await self._call(self.jobs.CloseSession, session_request(session_id)))

    async def cancel_session(self, session_id: str) -> Session:
        return convert.session_from_pb(await self._call(self.jobs.CancelSession, session_request(session_id)))

    # -- jobs ------------------------------------------------------------------------------
    async def get(self, job_id: str) -> Job:
        message = await self._call(self.jobs.GetJob, jobs_pb2.GetJobRequest(job_id=job_id))
        return convert.job_from_pb(message)

    async def cancel(self, job_id: str) -> Job:
        message = await self._call(self.jobs.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id))
        return convert.job_from_pb(message)

    async def list_jobs(
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
        response = await self._call(self.jobs.ListJobs, request)
        return [convert.job_from_pb(j) for j in response.jobs], response.next_page_token

    async def resolve_job_id(self, prefix: str) -> str:
        """The full id of the job that ``prefix`` names (the id, or the start of exactly one
        job's id); see :meth:`eigen.client.Client.resolve_job_id`, which this mirrors: no
        call for a full-length id, else one ListJobs ``id_prefix`` call."""
        query = job_id_query(prefix)
        if isinstance(query, str):
            return query
        return matching_job_id(prefix, [job.id for job in (await self._call(self.jobs.ListJobs, query)).jobs])

    async def watch(self, job_id: str, after_seq: int = 0) -> AsyncGenerator[JobEvent, None]:
        """Live events of a job until its terminal event."""
        self.breaker.before_call()
        call = self.jobs.WatchJob(
            jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=after_seq), metadata=self._metadata
        )
        settle = StreamSettlement(self.breaker)
        try:
            await call.initial_metadata()  # the server's headers: it took the call
            if not call.done():
                settle.success()
            async for message in call:
                settle.success()
                yield convert.event_from_pb(message)
            settle.success()
        except grpc.RpcError as exc:
            error = aio_error(exc, self.peer, self.tls)
            settle.failure(error)
            raise error from None
        finally:
            call.cancel()
            settle.release()

    async def wait(self, job_id: str) -> Job:
        """Until the job is terminal (driven by WatchJob); returns the final job."""
        async for _ in self.watch(job_id):
            pass
        return await self.get(job_id)

    async def results(self, job_id: str, wait: float = 0.0) -> JobResult:
        """:meth:`Client.results <eigen.client.client.Client.results>`, awaited."""
        cached = self.cache.get(job_id)
        if cached is not None:
            return cached
        request = jobs_pb2.GetJobResultsRequest(job_id=job_id, wait_seconds=wait)
        message = await self._call(self.jobs.GetJobResults, request, self.options.deadline_for_wait(wait))
        result = convert.result_from_pb(message)
        self.cache.put(result)
        return result

    # -- backends --------------------------------------------------------------------------
    async def backends(self) -> list[tuple[DeviceInfo, int]]:
        response = await self._call(self.backends_stub.ListBackends, jobs_pb2.ListBackendsRequest())
        return [(convert.device_from_pb(b), b.queue_depth) for b in response.backends]

    async def backend(self, name: str) -> DeviceInfo:
        message = await self._call(self.backends_stub.GetBackend, jobs_pb2.GetBackendRequest(name=name))
        return convert.device_from_pb(message)

    async def calibration(self, name: str) -> Calibration:
        message = await self._call(
            self.backends_stub.GetCalibration, jobs_pb2.GetCalibrationRequest(name=name)
        )
        return convert.calibration_from_pb(message)

    # -- lifetime --------------------------------------------------------------------------
    async def close(self) -> None:
        """Close the channel; futures still running fail with FailedPrecondition."""
        self._closed = True
        watched = dict(self._tasks)
        for task in watched.values():
            task.cancel()
        await asyncio.gather(*watched.values(), return_exceptions=True)
        for future in watched:  # a task cancelled before it ran could not do this itself
            future._set_exception(client_closed(future.id))
        await self.channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def as_completed(
    futures: Iterable[AsyncJobFuture], timeout: float | None = None
) -> AsyncIterator[AsyncJobFuture]:
    """Yield the futures as their jobs end; TimeoutError if ``timeout`` seconds pass first."""
    pending = {f._outcome: f for f in futures}
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        finished, _ = await asyncio.wait(pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        if not finished:
            raise TimeoutError(f"{len(pending)} job(s) did not end within {timeout}s")
        for outcome in finished:
            yield pending.pop(outcome)


async def wait(
    futures: Iterable[AsyncJobFuture], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> tuple[set[AsyncJobFuture], set[AsyncJobFuture]]:
    """Like :func:`asyncio.wait` over job futures; returns the (done, not_done) sets."""
    if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        raise ValueError(f"unknown return_when {return_when!r}")
    by_outcome = {f._outcome: f for f in futures}
    if not by_outcome:
        return set(), set()
    finished, pending = await asyncio.wait(by_outcome, timeout=timeout, return_when=return_when)
    return {by_outcome[f] for f in finished}, {by_outcome[f] for f in pending}


# -- errors of grpc.aio calls ------------------------------------------------------------
class _CallView(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """A failed grpc.aio call seen as a ``grpc.Call`` so :mod:`eigen.proto.status` reads it."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        self._error = error

    def code(self) -> grpc.StatusCode:
        return self._error.code()

    def details(self) -> str | None:
        return self._error.details()

    def trailing_metadata(self) -> Any:
        metadata = self._error.trailing_metadata()
        return tuple(metadata) if metadata is not None else None

    def initial_metadata(self) -> Any:
        metadata = self._error.initial_metadata()
        return tuple(metadata) if metadata is not None else None

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def aio_error(error: grpc.RpcError, peer: str, tls: bool | None = None) -> EigenError:
    """The typed Eigen error of a failed grpc.aio call (details read like the sync client)."""
    if isinstance(error, grpc.aio.AioRpcError):
        return call_error(_CallView(error), peer, tls)
    return call_error(error, peer, tls)
