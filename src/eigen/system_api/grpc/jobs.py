"""gRPC JobService and BackendService servicers over the shared service layer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from google.protobuf.message import Message

from eigen.errors import EigenError, InvalidArgument
from eigen.models.job import JobRequest
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.security.guard import Guard
from eigen.system_api.batch_stream import BatchEvent, Item, open_batch_stream
from eigen.system_api.grpc.handlers import Context, blocking, streaming, unary
from eigen.system_api.service import JobApi, ListQuery
from eigen.system_api.streams import Inbox, from_thread

T = TypeVar("T")


# A SubmitJob this large (its program to parse and check) runs on the RPC thread pool
# even with the kernel in process, so that it never holds up the event loop for long.
INLINE_SUBMIT_BYTES = 16 * 1024


def is_large(request: Message) -> bool:
    return request.ByteSize() > INLINE_SUBMIT_BYTES


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    """``local``: the kernel is in this process, so its quick calls (a store read or
    write) run on the event loop; through a remote kernel every call is ``blocking``.

    Authentication is the handlers' (:mod:`.handlers`, with :attr:`guard`), authorization
    and tenant isolation the service layer's: nothing here checks who calls."""

    def __init__(self, api: JobApi, *, local: bool = False) -> None:
        self.api = api
        self.local = local

    @property
    def guard(self) -> Guard:
        return self.api.guard

    async def _call(self, function: Callable[..., T], *args: Any, large: bool = False) -> T:
        """A quick call of the service layer: inline when the kernel is local, unless the
        request is ``large`` (a big program to parse and check)."""
        if self.local and not large:
            return function(*args)
        return await blocking(function, *args)

    def grouped(self, request: Message) -> bool:
        """Whether a submission goes through the local kernel's intake (stored with the
        others arriving meanwhile, off the loop): any but a large one (checked on the
        thread pool). A keyed one is looked up first, then grouped like the others."""
        return self.local and not is_large(request)

    @unary
    async def SubmitJob(
        self, request: jobs_pb2.SubmitJobRequest, context: Context
    ) -> jobs_pb2.SubmitJobResponse:
        job_request = convert.request_from_pb(request.job)
        if self.grouped(request):
            job, deduplicated = await self.api.submit_async(job_request, request.idempotency_key)
            return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)
        job, deduplicated = await self._call(
            self.api.submit, job_request, request.idempotency_key, large=is_large(request)
        )
        return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)

    @unary
    async def GetJob(self, request: jobs_pb2.GetJobRequest, context: Context) -> pb.Job:
        return convert.job_to_pb(await self._call(self.api.get, request.job_id))

    @unary
    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Context
    ) -> jobs_pb2.ListJobsResponse:
        jobs, token = await blocking(self.api.list_jobs, list_query_from_pb(request))
        return jobs_pb2.ListJobsResponse(jobs=[convert.job_to_pb(j) for j in jobs], next_page_token=token)

    @unary
    async def ListDeadLetters(
        self, request: jobs_pb2.ListDeadLettersRequest, context: Context
    ) -> jobs_pb2.ListDeadLettersResponse:
        letters, token = await blocking(
            self.api.dead_letters, request.tenant, request.page_size, request.page_token
        )
        return jobs_pb2.ListDeadLettersResponse(
            dead_letters=[convert.dead_letter_to_pb(letter) for letter in letters], next_page_token=token
        )

    @unary
    async def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: Context) -> pb.Job:
        return convert.job_to_pb(await self._call(self.api.cancel, request.job_id))

    @unary
    async def OpenSession(self, request: jobs_pb2.OpenSessionRequest, context: Context) -> jobs_pb2.Session:
        opened = await blocking(self.api.open_session, request.target, request.max_time_s, request.idle_s)
        return convert.session_to_pb(opened)

    @unary
    async def GetSession(self, request: jobs_pb2.SessionRequest, context: Context) -> jobs_pb2.Session:
        return convert.session_to_pb(await blocking(self.api.get_session, request.session_id))

    @unary
    async def CloseSession(self, request: jobs_pb2.SessionRequest, context: Context) -> jobs_pb2.Session:
        return convert.session_to_pb(await blocking(self.api.close_session, request.session_id))

    @unary
    async def CancelSession(self, request: jobs_pb2.SessionRequest, context: Context) -> jobs_pb2.Session:
        return convert.session_to_pb(await blocking(self.api.cancel_session, request.session_id))

    @streaming
    async def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: Context
    ) -> AsyncIterator[pb.JobEvent]:
        async for event in self.api.watch_async(request.job_id, request.after_seq):
            yield convert.event_to_pb(event)

    @unary
    async def GetJobResults(self, request: jobs_pb2.GetJobResultsRequest, context: Context) -> pb.JobResults:
        result = await self.api.results_after(request.job_id, request.wait_seconds, inline=self.local)
        return convert.result_to_pb(result)

    @unary
    async def SubmitBatch(
        self, request: jobs_pb2.SubmitBatchRequest, context: Context
    ) -> jobs_pb2.SubmitBatchResponse:
        jobs, deduplicated = await blocking(
            self.api.submit_batch, batch_from_pb(request), request.idempotency_key
        )
        return jobs_pb2.SubmitBatchResponse(job_ids=[job.id for job in jobs], deduplicated=deduplicated)

    @streaming
    async def StreamResults(
        self, request: jobs_pb2.StreamResultsRequest, context: Context
    ) -> AsyncIterator[jobs_pb2.ResultChunk]:
        for chunk in await blocking(self.api.result_chunks, request.job_id, request.chunk_size):
            yield convert.chunk_to_pb(request.job_id, chunk)

    @streaming
    async def SubmitBatchStream(
        self, request_iterator: AsyncIterator[jobs_pb2.BatchStreamRequest], context: Context
    ) -> AsyncIterator[jobs_pb2.BatchStreamResponse]:
        stream = open_batch_stream(self.api)  # refused before a message is read
        inbox: Inbox[Item] = Inbox()

        async def receive() -> None:
            try:
                async for message in request_iterator:
                    try:
                        inbox.put((message.client_request_id, convert.request_from_pb(message.job)))
                    except EigenError as exc:
                        inbox.put((message.client_request_id, exc))
            finally:
                inbox.close()

        receiver = asyncio.create_task(receive())
        try:
            events = from_thread(lambda active: stream(iter(inbox), active), "eigen-batch")
            async for event in events:
                yield batch_event_to_pb(event)
        finally:
            receiver.cancel()
            inbox.close()


def list_query_from_pb(request: jobs_pb2.ListJobsRequest) -> ListQuery:
    return ListQuery(
        states=tuple(convert.STATE_FROM_PB[s] for s in request.states if s in convert.STATE_FROM_PB),
        target=request.target or None,
        labels=dict(request.labels),
        created_after=convert.seconds_of(request.created_after)
        if request.HasField("created_after")
        else None,
        created_before=convert.seconds_of(request.created_before)
        if request.HasField("created_before")
        else None,
        page_size=request.page_size,
        page_token=request.page_token,
        id_prefix=request.id_prefix,
    )


class BackendServicer(jobs_pb2_grpc.BackendServiceServicer):
    def __init__(self, api: JobApi) -> None:
        self.api = api

    @property
    def guard(self) -> Guard:
        return self.api.guard

    @unary
    async def ListBackends(
        self, request: jobs_pb2.ListBackendsRequest, context: Context
    ) -> jobs_pb2.ListBackendsResponse:
        backends = await blocking(self.api.backends)
        return jobs_pb2.ListBackendsResponse(
            backends=[convert.device_to_pb(d, depth) for d, depth in backends]
        )

    @unary
    async def GetBackend(self, request: jobs_pb2.GetBackendRequest, context: Context) -> pb.Backend:
        device, depth = await blocking(self.api.backend, request.name)
        return convert.device_to_pb(device, depth)

    @unary
    async def GetCalibration(
        self, request: jobs_pb2.GetCalibrationRequest, context: Context
    ) -> pb.Calibration:
        return convert.calibration_to_pb(await blocking(self.api.calibration, request.name))


def batch_from_pb(request: jobs_pb2.SubmitBatchRequest) -> list[JobRequest]:
    """Every item validated; the first bad one is named ``jobs[i].<field>``."""
    if not request.jobs:
        raise InvalidArgument.for_field("jobs", "a batch needs at least one job")
    return [convert.request_from_pb(job, f"jobs[{index}]") for index, job in enumerate(request.jobs)]


def batch_event_to_pb(event: BatchEvent) -> jobs_pb2.BatchStreamResponse:
    response = jobs_pb2.BatchStreamResponse(client_request_id=event.client_request_id)
    if event.kind == "submitted":
        response.submitted_job_id = event.job_id
    elif event.kind == "completed" and event.result is not None:
        response.completed.CopyFrom(convert.result_to_pb(event.result))
    elif event.error is not None:
        response.error.CopyFrom(jobs_pb2.BatchItemError(reason=event.error.code, message=event.error.message))
    return response
