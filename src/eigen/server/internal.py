"""Servicers of the internal RFC 0002 edges: KernelService, CompilationService and
DriverManagerService, each a thin adapter over the in-process service."""

from __future__ import annotations

import grpc

from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.service import Kernel
from eigen.kernel.store.base import JobFilter
from eigen.observability import context as call_context
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.internal.v1 import (
    compiler_pb2,
    compiler_pb2_grpc,
    driver_pb2,
    driver_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
)
from eigen.server import wire
from eigen.system_api.grpc.handlers import unary
from eigen.system_api.grpc.jobs import BackendServicer, JobServicer, batch_from_pb, list_query_from_pb
from eigen.system_api.service import MAX_PAGE_SIZE, JobApi, decode_page_token


class KernelServicer(JobServicer, BackendServicer, kernel_pb2_grpc.KernelServiceServicer):
    """The kernel's own gRPC face: the public servicers' methods over the kernel itself,
    plus the kernel-only ones. The caller's identity arrives in ``x-eigen-caller``."""

    def __init__(self, kernel: Kernel) -> None:
        super().__init__(JobApi(kernel))  # same edge checks (ids, page tokens) as the public API
        self.kernel = kernel

    @unary
    def Enqueue(
        self, request: kernel_pb2.EnqueueRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.SubmitJobResponse:
        call = call_context.current()
        job, deduplicated = self.kernel.submit(
            convert.request_from_pb(request.job),
            owner=request.owner or call.caller,
            idempotency_key=request.idempotency_key or None,
            traceparent=call.traceparent,
        )
        return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)

    @unary
    def EnqueueBatch(
        self, request: jobs_pb2.SubmitBatchRequest, context: grpc.ServicerContext
    ) -> kernel_pb2.EnqueueBatchResponse:
        jobs = self.api.submit_batch(batch_from_pb(request))
        return kernel_pb2.EnqueueBatchResponse(jobs=[convert.job_to_pb(j) for j in jobs])

    @unary
    def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: grpc.ServicerContext
    ) -> jobs_pb2.ListJobsResponse:
        """Up to ``page_size`` jobs before the cursor: system-api does the paging itself."""
        query = list_query_from_pb(request)
        found = self.kernel.list_jobs(
            JobFilter(
                states=query.states,
                target=query.target,
                labels=dict(query.labels or {}),
                created_after=query.created_after,
                created_before=query.created_before,
                limit=min(max(query.page_size, 1), MAX_PAGE_SIZE + 1),
                before=decode_page_token(query.page_token) if query.page_token else None,
            )
        )
        return jobs_pb2.ListJobsResponse(jobs=[convert.job_to_pb(j) for j in found])

    def GetResults(
        self, request: jobs_pb2.GetJobResultsRequest, context: grpc.ServicerContext
    ) -> pb.JobResults:
        return self.GetJobResults(request, context)


class CompilationServicer(compiler_pb2_grpc.CompilationServiceServicer):
    def __init__(self, compiler: CompilerPort) -> None:
        self.compiler = compiler

    @unary
    def Compile(
        self, request: compiler_pb2.CompileRequest, context: grpc.ServicerContext
    ) -> compiler_pb2.CompileResponse:
        return wire.compiled_to_pb(self.compiler.compile(wire.compile_request_from_pb(request)))

    @unary
    def Validate(
        self, request: compiler_pb2.CompileRequest, context: grpc.ServicerContext
    ) -> compiler_pb2.CompileResponse:
        return wire.compiled_to_pb(self.compiler.validate(wire.compile_request_from_pb(request)))

    @unary
    def Optimize(
        self, request: compiler_pb2.CompileRequest, context: grpc.ServicerContext
    ) -> compiler_pb2.CompileResponse:
        return wire.compiled_to_pb(self.compiler.optimize(wire.compile_request_from_pb(request)))


class DriverManagerServicer(driver_pb2_grpc.DriverManagerServiceServicer):
    def __init__(self, drivers: DriverPort) -> None:
        self.drivers = drivers

    @unary
    def ListDevices(
        self, request: driver_pb2.ListDevicesRequest, context: grpc.ServicerContext
    ) -> driver_pb2.ListDevicesResponse:
        return driver_pb2.ListDevicesResponse(
            devices=[convert.device_to_pb(d) for d in self.drivers.list_devices()]
        )

    @unary
    def GetDeviceStatus(
        self, request: driver_pb2.DeviceRequest, context: grpc.ServicerContext
    ) -> driver_pb2.DeviceStatusResponse:
        status = self.drivers.device_status(request.name)
        return driver_pb2.DeviceStatusResponse(name=request.name, status=convert.STATUS_TO_PB[status])

    @unary
    def Execute(
        self, request: driver_pb2.ExecuteRequest, context: grpc.ServicerContext
    ) -> driver_pb2.ExecuteResponse:
        result = self.drivers.execute(wire.execute_request_from_pb(request))
        return wire.execution_result_to_pb(result)

    @unary
    def Estimate(
        self, request: driver_pb2.EstimateRequest, context: grpc.ServicerContext
    ) -> driver_pb2.EstimateResponse:
        return wire.estimates_to_pb(self.drivers.estimate(wire.estimate_request_from_pb(request)))

    @unary
    def Calibrate(self, request: driver_pb2.DeviceRequest, context: grpc.ServicerContext) -> pb.Calibration:
        return convert.calibration_to_pb(self.drivers.calibrate(request.name))
