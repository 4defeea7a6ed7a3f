"""Servicers of the internal RFC 0002 edges: KernelService, CompilationService and
DriverManagerService, each a thin adapter over the in-process service.

Who may call them is decided before any method runs (:func:`eigen.security.internal.admit`,
from the gRPC handlers): with a service token configured, only a caller holding it, and the
kernel only from the api role, whose asserted principal is then the call's authenticated
principal. The kernel holds that principal to what it asserted: a submission only for a
tenant it sees, listings only of its tenant (an ``admin``: as the api asks), and the reads
and cancels of the public servicers check the tenant as on the public edge."""

from __future__ import annotations

import functools
from typing import Any

from eigen.errors import PermissionDenied, quote
from eigen.kernel.ports import CompilerPort, DriverPort
from eigen.kernel.service import Kernel
from eigen.kernel.store.base import JobFilter
from eigen.models.principal import DEFAULT_TENANT
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
from eigen.security import permissions
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


def submission(message: kernel_pb2.EnqueueRequest | kernel_pb2.EnqueueBatchRequest) -> dict[str, Any]:
    """The owner, tenant and quota of an internal submission, as the api sends them. With
    an asserted principal (the api's caller) the tenant must be one it sees and it must
    hold ``jobs.submit``: PERMISSION_DENIED otherwise."""
    call = call_context.current()
    tenant = convert.tenant_from_pb(message)
    asserted = call.authenticated
    if asserted is not None:
        permissions.require(asserted, permissions.SUBMIT)
        if not asserted.sees(tenant):
            raise PermissionDenied(
                f"{asserted.subject} may not submit jobs of tenant {quote(tenant, 64)}",
                metadata={"tenant": asserted.tenant},
            )
    return {
        "owner": message.owner or call_context.checked_caller(call),
        "tenant": tenant,
        "quota": convert.quota_from_pb(message),
        "traceparent": call.traceparent,
    }


def _session_of(request: kernel_pb2.KernelSessionRequest) -> tuple[str, str | None]:
    """The session id and whose it must be (None: any tenant's)."""
    return request.session_id, None if request.any_tenant else (request.tenant or DEFAULT_TENANT)


def listed_tenant(request: jobs_pb2.ListJobsRequest | jobs_pb2.ListDeadLettersRequest) -> str | None:
    """The tenant an internal listing keeps: the api's filter ("" every tenant), but never
    another than the asserted principal's own unless it is an ``admin``."""
    asserted = call_context.current().authenticated
    if asserted is not None and not asserted.admin:
        return asserted.tenant
    return request.tenant or None


class KernelServicer(JobServicer, BackendServicer, kernel_pb2_grpc.KernelServiceServicer):
    """The kernel's own gRPC face: the public servicers' methods over the kernel itself,
    plus the kernel-only ones. The caller's identity arrives in ``x-eigen-caller`` and,
    asserted by the api role, as the call's authenticated principal."""

    def __init__(self, kernel: Kernel) -> None:
        # same edge checks (ids, page tokens, tenants) as the public API, over the kernel in process
        super().__init__(JobApi(kernel), local=True)
        self.kernel = kernel

    @unary
    async def Enqueue(
        self, request: kernel_pb2.EnqueueRequest, context: Context
    ) -> jobs_pb2.SubmitJobResponse:
        job_request = convert.request_from_pb(request.job)
        given = submission(request)
        if self.grouped(request):
            job, deduplicated = await self.kernel.submit_async(
                job_request, idempotency_key=request.idempotency_key or None, **given
            )
            return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)
        submit = functools.partial(
            self.kernel.submit, job_request, idempotency_key=request.idempotency_key or None, **given
        )
        job, deduplicated = await self._call(submit, large=is_large(request))
        return jobs_pb2.SubmitJobResponse(job=convert.job_to_pb(job), deduplicated=deduplicated)

    @unary
    async def EnqueueBatch(
        self, request: kernel_pb2.EnqueueBatchRequest, context: Context
    ) -> kernel_pb2.EnqueueBatchResponse:
        requests = batch_from_pb(jobs_pb2.SubmitBatchRequest(jobs=request.jobs))  # the same checks
        submit = functools.partial(
            self.kernel.submit_batch,
            requests,
            idempotency_key=request.idempotency_key or None,
            **submission(request),
        )
        jobs, deduplicated = await blocking(submit)
        return kernel_pb2.EnqueueBatchResponse(
            jobs=[convert.job_to_pb(j) for j in jobs], deduplicated=deduplicated
        )

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
                tenant=listed_tenant(request),
            ),
        )
        return jobs_pb2.ListJobsResponse(jobs=[convert.job_to_pb(j) for j in found])

    @unary
    async def ListDeadLetters(
        self, request: jobs_pb2.ListDeadLettersRequest, context: Context
    ) -> jobs_pb2.ListDeadLettersResponse:
        """Up to ``page_size`` dead letters before the cursor (system-api does the paging),
        of the asserted principal's tenant unless it is an ``admin``, and only for one that
        holds ``deadletters.read``."""
        asserted = call_context.current().authenticated
        if asserted is not None:
            permissions.require(asserted, permissions.DEAD_LETTERS)
        found = await blocking(
            self.kernel.dead_letters,
            listed_tenant(request),
            min(max(request.page_size, 1), MAX_PAGE_SIZE + 1),
            decode_page_token(request.page_token) if request.page_token else None,
        )
        return jobs_pb2.ListDeadLettersResponse(dead_letters=[convert.dead_letter_to_pb(d) for d in found])

    @unary
    async def OpenSession(
        self, request: kernel_pb2.KernelOpenSessionRequest, context: Context
    ) -> jobs_pb2.Session:
        opened = request.session
        session = await blocking(
            self.kernel.open_session,
            request.tenant or DEFAULT_TENANT,
            request.owner,
            opened.target,
            opened.max_time_s or None,
            opened.idle_s or None,
        )
        return convert.session_to_pb(session)

    @unary
    async def GetSession(
        self, request: kernel_pb2.KernelSessionRequest, context: Context
    ) -> jobs_pb2.Session:
        return convert.session_to_pb(await blocking(self.kernel.get_session, *_session_of(request)))

    @unary
    async def CloseSession(
        self, request: kernel_pb2.KernelSessionRequest, context: Context
    ) -> jobs_pb2.Session:
        return convert.session_to_pb(await blocking(self.kernel.close_session, *_session_of(request)))

    @unary
    async def CancelSession(
        self, request: kernel_pb2.KernelSessionRequest, context: Context
    ) -> jobs_pb2.Session:
        return convert.session_to_pb(await blocking(self.kernel.cancel_session, *_session_of(request)))

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
