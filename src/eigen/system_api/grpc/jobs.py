"""gRPC JobService and BackendService servicers over the shared service layer."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from eigen.errors import EigenError, InvalidArgument
from eigen.models.job import JobRequest
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.system_api.batch_stream import BatchEvent, run_batch_stream
from eigen.system_api.grpc.handlers import active, streaming, unary
from eigen.system_api.service import JobApi, ListQuery


class JobServicer(jobs_pb2_grpc.JobServiceServicer):
    def __init__(self, api: JobApi) -> None:
        self.api = api

    @unary
    def SubmitJob(
        self, request: jobs_pb2.SubmitJobRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.SubmitJobResponse:
        job_request = convert.request_from_pb(request.job)
        job, deduplicated = self.api.submit(job_request, request.idempotency_key)
        return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)

    @unary
    def GetJob(self, request: jobs_pb2.GetJobRequest, context: grpc.ServicerContext) -> pb.Job:
        return convert.job_to_pb(self.api.get(request.job_id))

    @unary
    def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        jobs, token = self.api.list_jobs(list_query_from_pb(request))
        return jobs_pb2.ListJobsResponse(jobs=[convert.job_to_pb(j) for j in jobs], next_page_token=token)

    @unary
    def CancelJob(self, request: jobs_pb2.CancelJobRequest, context: grpc.ServicerContext) -> pb.Job:
        return convert.job_to_pb(self.api.cancel(request.job_id))

    @streaming
    def WatchJob(
        self, request: jobs_pb2.WatchJobRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.JobEvent]:
        for event in self.api.watch(request.job_id, request.after_seq, active(context)):
            yield convert.event_to_pb(event)

    @unary
    def GetJobResults(
        self, request: jobs_pb2.GetJobResultsRequest, context: grpc.ServicerContext
    ) -> pb.JobResults:
        return convert.result_to_pb(self.api.results(request.job_id))

    @unary
    def SubmitBatch(
        self, request: jobs_pb2.SubmitBatchRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.SubmitBatchResponse:
        jobs = self.api.submit_batch(batch_from_pb(request))
        return jobs_pb2.SubmitBatchResponse(job_ids=[job.id for job in jobs])

    @streaming
    def StreamResults(
        self, request: jobs_pb2.StreamResultsRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.ResultChunk]:
        for chunk in self.api.result_chunks(request.job_id, request.chunk_size):
            yield jobs_pb2.ResultChunk(
                job_id=request.job_id,
                index=chunk.index,
                total=chunk.total,
                is_final=chunk.is_final,
                partial=convert.result_to_pb(chunk.result),
                experiment_indices=chunk.experiment_indices,
            )

    @streaming
    def SubmitBatchStream(
        self, request_iterator: Iterator[jobs_pb2.BatchStreamRequest], context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.BatchStreamResponse]:
        for event in run_batch_stream(self.api, _batch_items(request_iterator), active(context)):
            yield batch_event_to_pb(event)


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
    )


class BackendServicer(jobs_pb2_grpc.BackendServiceServicer):
    def __init__(self, api: JobApi) -> None:
        self.api = api

    @unary
    def ListBackends(
        self, request: jobs_pb2.ListBackendsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ListBackendsResponse:
        return jobs_pb2.ListBackendsResponse(
            backends=[convert.device_to_pb(d, depth) for d, depth in self.api.backends()]
        )

    @unary
    def GetBackend(self, request: jobs_pb2.GetBackendRequest, context: grpc.ServicerContext) -> pb.Backend:
        device, depth = self.api.backend(request.name)
        return convert.device_to_pb(device, depth)

    @unary
    def GetCalibration(
        self, request: jobs_pb2.GetCalibrationRequest, context: grpc.ServicerContext
    ) -> pb.Calibration:
        return convert.calibration_to_pb(self.api.calibration(request.name))


def batch_from_pb(request: jobs_pb2.SubmitBatchRequest) -> list[JobRequest]:
    """Every item validated; the first bad one is named ``jobs[i].<field>``."""
    if not request.jobs:
        raise InvalidArgument.for_field("jobs", "a batch needs at least one job")
    return [convert.request_from_pb(job, f"jobs[{index}]") for index, job in enumerate(request.jobs)]


def _batch_items(
    requests: Iterator[jobs_pb2.BatchStreamRequest],
) -> Iterator[tuple[str, JobRequest | EigenError]]:
    for message in requests:
        try:
            yield message.client_request_id, convert.request_from_pb(message.job)
        except EigenError as exc:
            yield message.client_request_id, exc


def batch_event_to_pb(event: BatchEvent) -> jobs_pb2.BatchStreamResponse:
    response = jobs_pb2.BatchStreamResponse(client_request_id=event.client_request_id)
    if event.kind == "submitted":
        response.submitted_job_id = event.job_id
    elif event.kind == "completed" and event.result is not None:
        response.completed.CopyFrom(convert.result_to_pb(event.result))
    elif event.error is not None:
        response.error.CopyFrom(jobs_pb2.BatchItemError(reason=event.error.code, message=event.error.message))
    return response
