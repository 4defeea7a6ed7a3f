"""gRPC implementations of the ports: the kernel seen from system-api, and the compiler
and driver-manager seen from the kernel (the four-process RFC 0002 topology).

Every call carries the current call context (request id, caller, traceparent, and the
service token and the api's principal of :mod:`eigen.security.internal`) as metadata and
turns a failed status back into the EigenError it carries. The channels use TLS when this
process installed credentials for it (``tls_cert_file`` set).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

import grpc

from eigen.drivers.registry import execute_each
from eigen.errors import EigenError, NotFound
from eigen.kernel.store.base import JobFilter
from eigen.models.compiled import (
    CompiledProgram,
    CompileRequest,
    EstimationRequest,
    ExecutionRequest,
)
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.quota import NO_QUOTA, Quota
from eigen.models.result import ExecutionResult, JobResult
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus
from eigen.observability import context as call_context
from eigen.proto import convert
from eigen.proto.api.v1 import jobs_pb2
from eigen.proto.internal.v1 import (
    compiler_pb2_grpc,
    driver_pb2,
    driver_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
)
from eigen.proto.status import error_from_rpc
from eigen.security import internal
from eigen.server import wire
from eigen.system_api.service import encode_cursor
from eigen.system_api.streams import from_thread

T = TypeVar("T")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


class _Remote:
    def __init__(self, address: str, peer: str) -> None:
        self.address = address
        self.peer = f"{peer} at {address}"
        credentials = internal.installed_channel()  # TLS between roles when they serve it
        self.channel = (
            grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
            if credentials is None
            else grpc.secure_channel(address, credentials, options=CHANNEL_OPTIONS)
        )

    def call(self, method: Callable[..., T], request: Any, timeout: float | None = 60.0) -> T:
        try:
            return method(request, metadata=call_context.current().metadata(), timeout=timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.peer) from None

    def close(self) -> None:
        self.channel.close()


class RemoteKernel(_Remote):
    def __init__(self, address: str) -> None:
        super().__init__(address, "eigen-kernel")
        self.stub = kernel_pb2_grpc.KernelServiceStub(self.channel)

    def submit(
        self,
        request: JobRequest,
        *,
        owner: str = call_context.ANONYMOUS,
        idempotency_key: str | None = None,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> tuple[Job, bool]:
        message = kernel_pb2.EnqueueRequest(
            job=convert.request_to_pb(request),
            idempotency_key=idempotency_key or "",
            owner=owner,
            tenant=tenant,
            **convert.quota_fields(quota),
        )
        response = self.call(self.stub.Enqueue, message)
        return convert.job_from_pb(response.job, request), response.deduplicated

    async def submit_async(
        self,
        request: JobRequest,
        *,
        owner: str = call_context.ANONYMOUS,
        idempotency_key: str | None = None,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> tuple[Job, bool]:
        """:meth:`submit` on a thread (the call is a blocking gRPC call)."""
        return await asyncio.to_thread(
            functools.partial(
                self.submit,
                request,
                owner=owner,
                idempotency_key=idempotency_key,
                traceparent=traceparent,
                tenant=tenant,
                quota=quota,
            )
        )

    def submit_batch(
        self,
        requests: list[JobRequest],
        *,
        owner: str = call_context.ANONYMOUS,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> list[Job]:
        message = kernel_pb2.EnqueueBatchRequest(
            jobs=[convert.request_to_pb(r) for r in requests],
            owner=owner,
            tenant=tenant,
            **convert.quota_fields(quota),
        )
        response = self.call(self.stub.EnqueueBatch, message)
        return [convert.job_from_pb(j, r) for j, r in zip(response.jobs, requests, strict=True)]

    def get(self, job_id: str) -> Job:
        return convert.job_from_pb(self.call(self.stub.GetJob, jobs_pb2.GetJobRequest(job_id=job_id)))

    def list_jobs(self, query: JobFilter) -> list[Job]:
        # The kernel pages by itself; ask for this page with the same cursor semantics.
        request = jobs_pb2.ListJobsRequest(
            states=[convert.STATE_TO_PB[s] for s in query.states],
            target=query.target or "",
            labels=query.labels,
            page_size=query.limit,
            id_prefix=query.id_prefix or "",
            tenant=query.tenant or "",
        )
        if query.created_after is not None:
            request.created_after.CopyFrom(convert.timestamp(query.created_after))
        if query.created_before is not None:
            request.created_before.CopyFrom(convert.timestamp(query.created_before))
        if query.before is not None:
            request.page_token = encode_cursor(query.before)
        response = self.call(self.stub.ListJobs, request)
        return [convert.job_from_pb(j) for j in response.jobs]

    def cancel(self, job_id: str) -> Job:
        return convert.job_from_pb(self.call(self.stub.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id)))

    def watch(
        self, job_id: str, after_seq: int = 0, active: Callable[[], bool] = lambda: True
    ) -> Iterator[JobEvent]:
        stream = self.stub.WatchJob(
            jobs_pb2.WatchJobRequest(job_id=job_id, after_seq=after_seq),
            metadata=call_context.current().metadata(),
        )
        try:
            for message in stream:
                if not active():
                    stream.cancel()
                    return
                yield convert.event_from_pb(message)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.peer) from None

    async def watch_async(self, job_id: str, after_seq: int = 0) -> AsyncIterator[JobEvent]:
        """:meth:`watch` on a thread of its own (the stream is a blocking gRPC call)."""
        events = from_thread(lambda active: self.watch(job_id, after_seq, active), "eigen-remote-watch")
        async for event in events:
            yield event

    async def wait_async(self, job_id: str, timeout_s: float) -> bool:
        """The kernel's event stream, read until the job's terminal event."""
        try:
            async with asyncio.timeout(timeout_s):
                async for event in self.watch_async(job_id):
                    if event.terminal:
                        return True
        except TimeoutError:
            return False
        return False  # the stream ended first (the kernel is stopping)

    def results(self, job_id: str) -> JobResult:
        return convert.result_from_pb(
            self.call(self.stub.GetResults, jobs_pb2.GetJobResultsRequest(job_id=job_id))
        )

    def device(self, name: str) -> DeviceInfo:
        return convert.device_from_pb(self.call(self.stub.GetBackend, jobs_pb2.GetBackendRequest(name=name)))

    def list_devices(self) -> list[DeviceInfo]:
        response = self.call(self.stub.ListBackends, jobs_pb2.ListBackendsRequest())
        return [convert.device_from_pb(b) for b in response.backends]

    def calibration(self, name: str) -> Calibration:
        message = self.call(self.stub.GetCalibration, jobs_pb2.GetCalibrationRequest(name=name))
        return convert.calibration_from_pb(message)

    def queue_depth(self) -> int:
        response = self.call(self.stub.ListBackends, jobs_pb2.ListBackendsRequest())
        return max((b.queue_depth for b in response.backends), default=0)


class RemoteCompiler(_Remote):
    def __init__(self, address: str) -> None:
        super().__init__(address, "eigen-compiler")
        self.stub = compiler_pb2_grpc.CompilationServiceStub(self.channel)

    def compile(self, request: CompileRequest) -> CompiledProgram:
        return wire.compiled_from_pb(self.call(self.stub.Compile, wire.compile_request_to_pb(request)))

    def validate(self, request: CompileRequest) -> CompiledProgram:
        return wire.compiled_from_pb(self.call(self.stub.Validate, wire.compile_request_to_pb(request)))

    def optimize(self, request: CompileRequest) -> CompiledProgram:
        return wire.compiled_from_pb(self.call(self.stub.Optimize, wire.compile_request_to_pb(request)))

    def cached(self, request: CompileRequest) -> CompiledProgram | None:
        """Never: the compiler's cache is in its own process, one call away like a compile."""
        return None

    def validated(self, request: CompileRequest) -> CompiledProgram | None:
        """Never: the compiler's cache is in its own process, one call away like a validate."""
        return None


class RemoteDrivers(_Remote):
    def __init__(self, address: str) -> None:
        super().__init__(address, "driver-manager")
        self.stub = driver_pb2_grpc.DriverManagerServiceStub(self.channel)
        self._lock = threading.Lock()

    def list_devices(self) -> list[DeviceInfo]:
        response = self.call(self.stub.ListDevices, driver_pb2.ListDevicesRequest())
        return [convert.device_from_pb(d) for d in response.devices]

    def device(self, name: str) -> DeviceInfo:
        for device in self.list_devices():
            if name == device.name or name in device.aliases:
                return device
        raise NotFound(f"unknown backend {name!r}")

    def device_status(self, name: str) -> DeviceStatus:
        response = self.call(self.stub.GetDeviceStatus, driver_pb2.DeviceRequest(name=name))
        return convert.STATUS_FROM_PB.get(response.status, DeviceStatus.OFFLINE)

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        response = self.call(self.stub.Execute, wire.execute_request_to_pb(request), timeout=None)
        return wire.execution_result_from_pb(response)

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        """One ``Execute`` call each (the service has no batch call)."""
        return execute_each(self.execute, requests)

    def estimate(self, request: EstimationRequest) -> list[list[float]]:
        response = self.call(self.stub.Estimate, wire.estimate_request_to_pb(request), timeout=None)
        return wire.estimates_from_pb(response)

    def calibrate(self, name: str) -> Calibration:
        return convert.calibration_from_pb(
            self.call(self.stub.Calibrate, driver_pb2.DeviceRequest(name=name))
        )
