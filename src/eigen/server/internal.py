"""Servicers of the internal RFC 0002 edges: KernelService, CompilationService and
DriverManagerService, each a thin adapter over the in-process service."""

from __future__ import annotations

import functools

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
from eigen.system_api.grpc.handlers import Context, blocking, unary
from eigen.system_api.grpc.jobs import (
    BackendServicer,
    JobServicer,
    batch_from_pb,
    is_large,
    list_query_from_pb,
)
from eigen.system_api.service import MAX_PAGE_SIZE, JobApi, decode_page_token


class KernelServicer(JobServicer, BackendServicer, kernel_pb2_grpc.KernelServiceServicer):
    """The kernel's own gRPC face: the public servicers' methods over the kernel itself,
    plus the kernel-only ones. The caller's identity arrives in ``x-eigen-caller``."""

    def __init__(self, kernel: Kernel) -> None:
        # same edge checks (ids, page tokens) as the public API, over the kernel in process
        super().__init__(JobApi(kernel), local=True)
        self.kernel = kernel

    @unary
    async def Enqueue(
        self, request: kernel_pb2.EnqueueRequest, context: Context
    ) -> jobs_pb2.SubmitJobResponse:
        call = call_context.current()
        job_request = convert.request_from_pb(request.job)
        if self.grouped(request, request.idempotency_key):
            owner = request.owner or call.caller
            job = await self.kernel.submit_async(job_request, owner=owner, traceparent=call.traceparent)
            return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=False)
        submit = functools.partial(
            self.kernel.submit,
            job_request,
            owner=request.owner or call.caller,
            idempotency_key=request.idempotency_key or None,
            traceparent=call.traceparent,
        )
        job, deduplicated = await self._call(submit, large=is_large(request))
        return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)

    @unary
    async def EnqueueBatch(
        self, request: jobs_pb2.SubmitBatchRequest, context: Context
    ) -> kernel_pb2.EnqueueBatchResponse:
        jobs = await blocking(self.api.submit_batch, batch_from_pb(request))
        return kernel_pb2.EnqueueBatchResponse(jobs=[convert.job_to_pb(j) for j in jobs])

    @unary
    async def ListJobs(
        self, request: jobs_pb2.ListJobsRequest, context: Context
    ) -> jobs_pb2.ListJobsResponse:
        """Up to ``page_size`` jobs before the cursor: system-api does the paging itself."""
        query = list_query_from_pb(request)
        found = await blocking(
            self.kernel.list_jobs,
            JobFilter(
                states=query.states,
                target=query.target,
                labels=dict(query.labels or {}),
                created_after=query.created_after,
                created_before=query.created_before,
                limit=min(max(query.page_size, 1), MAX_PAGE_SIZE + 1),
                before=decode_page_token(query.page_token) if query.page_token else None,
                id_prefix=query.id_prefix or None,
            ),
        )
        return jobs_pb2.ListJobsResponse(jobs=[convert.job_to_pb(j) for j in found])

    async def GetResults(self, request: jobs_pb2.GetJobResultsRequest, context: Context) -> pb.JobResults:
        return await self.GetJobResults(request, context)


class CompilationServicer(compiler_pb2_grpc.CompilationServiceServicer):
    def __init__(self, compiler: CompilerPort) -> None:
        self.compiler = compiler

    @unary
    async def Compile(
        self, request: compiler_pb2.CompileRequest, context: Context
    ) -> compiler_pb2.CompileResponse:
        compiled = await blocking(self.compiler.compile, wire.compile_request_from_pb(request))
        return wire.compiled_to_pb(compiled)

    @unary
    async def Validate(
        self, request: compiler_pb2.CompileRequest, context: Context
    ) -> compiler_pb2.CompileResponse:
        compiled = await blocking(self.compiler.validate, wire.compile_request_from_pb(request))
        return wire.compiled_to_pb(compiled)

    @unary
    async def Optimize(
        self, request: compiler_pb2.CompileRequest, context: Context
    ) -> compiler_pb2.CompileResponse:
        compiled = await blocking(self.compiler.optimize, wire.compile_request_from_pb(request))
        return wire.compiled_to_pb(compiled)


class DriverManagerServicer(driver_pb2_grpc.DriverManagerServiceServicer):
    def __init__(self, drivers: DriverPort) -> None:
        self.drivers = drivers

    @unary
    async def ListDevices(
        self, request: driver_pb2.ListDevicesRequest, context: Context
    ) -> driver_pb2.ListDevicesResponse:
        devices = await blocking(self.drivers.list_devices)
        return driver_pb2.ListDevicesResponse(devices=[convert.device_to_pb(d) for d in devices])

    @unary
    async def GetDeviceStatus(
        self, request: driver_pb2.DeviceRequest, context: Context
    ) -> driver_pb2.DeviceStatusResponse:
        status = await blocking(self.drivers.device_status, request.name)
        return driver_pb2.DeviceStatusResponse(name=request.name, status=convert.STATUS_TO_PB[status])

    @unary
    async def Execute(
        self, request: driver_pb2.ExecuteRequest, context: Context
    ) -> driver_pb2.ExecuteResponse:
        result = await blocking(self.drivers.execute, wire.execute_request_from_pb(request))
        return wire.execution_result_to_pb(result)

    @unary
    async def Estimate(
        self, request: driver_pb2.EstimateRequest, context: Context
    ) -> driver_pb2.EstimateResponse:
        estimates = await blocking(self.drivers.estimate, wire.estimate_request_from_pb(request))
        return wire.estimates_to_pb(estimates)

    @unary
    async def Calibrate(self, request: driver_pb2.DeviceRequest, context: Context) -> pb.Calibration:
        return convert.calibration_to_pb(await blocking(self.drivers.calibrate, request.name))
