"""gRPC JobService and BackendService servicers over the shared service layer."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from eigen.errors import Unimplemented
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
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
        raise Unimplemented("SubmitBatch is declared but not served yet; submit jobs one by one")

    @streaming
    def StreamResults(
        self, request: jobs_pb2.StreamResultsRequest, context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.ResultChunk]:
        raise Unimplemented("StreamResults is declared but not served yet; use GetJobResults")

    @streaming
    def SubmitBatchStream(
        self, request_iterator: Iterator[jobs_pb2.BatchStreamRequest], context: grpc.ServicerContext
    ) -> Iterator[jobs_pb2.BatchStreamResponse]:
        raise Unimplemented("SubmitBatchStream is declared but not served yet; use SubmitJob")


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
