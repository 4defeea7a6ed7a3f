"""gRPC implementations of the ports: the kernel seen from system-api, and the compiler
and driver-manager seen from the kernel (the four-process RFC 0002 topology).

Every call carries the current call context (request id, caller, traceparent, and the
service token and the api's principal of :mod:`eigen.security.internal`) as metadata and
turns a failed status back into the EigenError it carries. The channels use TLS when this
process installed credentials for it (``tls_cert_file`` set).

The kernel is reached over one target naming every kernel (:func:`kernel_target`: the
setting ``kernel_addresses``, else ``kernel_address``), balanced by gRPC's ``round_robin``
policy: a kernel that goes away (SIGTERM's GOAWAY, a reset connection) leaves the rotation
and the calls go to the others. Failover is gRPC's retry policy (gRFC A6), on UNAVAILABLE
and on a CANCELLED a stopping kernel sent, for the calls that may be sent twice
(:data:`KERNEL_IDEMPOTENT`) and for a submission carrying an idempotency key (the kernel
answers a repeated key with the job it stored). A service config names methods, not
requests, so a keyed Enqueue (or EnqueueBatch) and an unkeyed one go on two channels over
the same target: the unkeyed one on a channel without a retry policy,
where gRPC only replays what no kernel received (its transparent retries). gRPC commits a
call, and retries it no more, once the kernel's response headers arrive: a WatchJob is
retried until its first event at the latest; a stream cut later ends in UNAVAILABLE, which
the SDK's watch resumes after the last event it saw.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, TypeVar

import grpc

from eigen.client.channel import RetryPolicy, call_error, retry_method_config
from eigen.config.errors import InvalidSetting
from eigen.drivers.registry import execute_each
from eigen.errors import EigenError, NotFound
from eigen.kernel.events import EventBus
from eigen.kernel.store.base import JobFilter
from eigen.models.compiled import (
    CompiledProgram,
    CompileRequest,
    EstimationRequest,
    ExecutionRequest,
)
from eigen.models.dead_letter import DeadLetter
from eigen.models.job import Job, JobEvent, JobRequest
from eigen.models.principal import DEFAULT_TENANT
from eigen.models.quota import NO_QUOTA, Quota
from eigen.models.result import ExecutionResult, JobResult
from eigen.models.session import Session
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


KERNEL_SERVICE = kernel_pb2.DESCRIPTOR.services_by_name["KernelService"].full_name
#: KernelService calls that are safe to send again: reads, CancelJob (cancelling twice is a
#: no-op) and WatchJob (retried only before its first event, from the same ``after_seq``).
KERNEL_IDEMPOTENT: tuple[str, ...] = (
    "GetJob",
    "ListJobs",
    "CancelJob",
    "WatchJob",
    "GetResults",
    "ListBackends",
    "GetBackend",
    "GetCalibration",
    "ListDeadLetters",
    "GetSession",
    "CloseSession",
    "CancelSession",
)
#: The failover of the api role's calls to its kernels: up to 4 attempts in all, each retry
#: after random(0, backoff), the backoff from 0.1 s doubling up to 2 s; on UNAVAILABLE, and
#: on a CANCELLED the kernel sent (the api never cancels a unary call: a kernel cancels
#: what it cannot finish while it stops; a call the api cancels itself is never retried).
KERNEL_RETRY = RetryPolicy(retryable_status_codes=("UNAVAILABLE", "CANCELLED"))


def _session_request(session_id: str, tenant: str | None) -> kernel_pb2.KernelSessionRequest:
    return kernel_pb2.KernelSessionRequest(
        session_id=session_id, tenant=tenant or "", any_tenant=tenant is None
    )


def kernel_target(addresses: Sequence[str]) -> str:
    """One gRPC target naming every kernel of ``addresses`` (``host:port`` each).

    One address is used as written: gRPC's DNS resolver follows a name and balances over
    all its records (a headless service naming every kernel). Several become a static list
    (``ipv4:a:p,b:p``, or ``ipv6:[a]:p,...``): gRPC resolves one name per target, so a
    host name among them is resolved once, here. InvalidSetting for an address without a
    port, a name that does not resolve, or IPv4 and IPv6 kernels mixed."""
    if not addresses:
        raise InvalidSetting("kernel_addresses: give at least one kernel address (host:port)")
    if len(addresses) == 1:
        return addresses[0]
    families: dict[int, list[str]] = {socket.AF_INET: [], socket.AF_INET6: []}
    for address in addresses:
        host, port = _host_port(address)
        found = _resolve(host, port)
        ipv4 = [ip for family, ip in found if family == socket.AF_INET]
        family = socket.AF_INET if ipv4 else socket.AF_INET6  # a name with both: its IPv4 records
        for ip in ipv4 or [ip for f, ip in found if f == socket.AF_INET6]:
            entry = f"{ip}:{port}" if family == socket.AF_INET else f"[{ip}]:{port}"
            if entry not in families[family]:
                families[family].append(entry)
    if families[socket.AF_INET] and families[socket.AF_INET6]:
        raise InvalidSetting(
            "kernel_addresses: the kernels mix IPv4 and IPv6 addresses "
            f"({', '.join(families[socket.AF_INET] + families[socket.AF_INET6])}); use one family"
        )
    if families[socket.AF_INET]:
        return "ipv4:" + ",".join(families[socket.AF_INET])
    return "ipv6:" + ",".join(families[socket.AF_INET6])


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidSetting(f"kernel_addresses: {address!r} is not host:port")
    return host, int(port)


def _resolve(host: str, port: int) -> list[tuple[int, str]]:
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [(socket.AF_INET if literal.version == 4 else socket.AF_INET6, str(literal))]
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidSetting(f"kernel_addresses: cannot resolve {host!r}: {exc}") from None
    return [(int(family), str(sockaddr[0])) for family, _, _, _, sockaddr in found]


def kernel_service_config(*, keyed_enqueue: bool) -> dict[str, Any]:
    """The service config of a channel to the kernels: ``round_robin`` over them, and the
    retry policy on UNAVAILABLE for the idempotent calls, with Enqueue and EnqueueBatch
    among them on the channel of keyed submissions (``keyed_enqueue``). No retry throttling: the kernels are
    this deployment's own, and a kernel dying under load fails many calls at once, each of
    which should reach another kernel."""
    methods = [*KERNEL_IDEMPOTENT, *(("Enqueue", "EnqueueBatch") if keyed_enqueue else ())]
    return {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [retry_method_config(KERNEL_RETRY, [(KERNEL_SERVICE, m) for m in methods])],
    }


def kernel_channel(addresses: Sequence[str], *, keyed_enqueue: bool) -> grpc.Channel:
    """A channel to the kernels of ``addresses`` (:func:`kernel_target`); TLS when
    installed. Over TLS a channel checks one name for every kernel it balances over: the
    host of the first address (the certificate the roles share names every host they are
    reached by; a kernel's own certificate must name that host too)."""
    options: list[tuple[str, Any]] = [
        *CHANNEL_OPTIONS,
        ("grpc.enable_retries", 1),
        ("grpc.service_config", json.dumps(kernel_service_config(keyed_enqueue=keyed_enqueue))),
    ]
    if len(addresses) > 1:
        host, _ = _host_port(addresses[0])
        options.append(("grpc.default_authority", addresses[0].strip()))
        if internal.installed_channel() is not None:
            options.append(("grpc.ssl_target_name_override", host))
    return _open(kernel_target(addresses), options)


def _open(target: str, options: Sequence[tuple[str, Any]]) -> grpc.Channel:
    credentials = internal.installed_channel()  # TLS between roles when they serve it
    if credentials is None:
        return grpc.insecure_channel(target, options=list(options))
    return grpc.secure_channel(target, credentials, options=list(options))


class _Remote:
    def __init__(self, address: str, peer: str, channel: grpc.Channel | None = None) -> None:
        self.address = address
        self.peer = f"{peer} at {address}"
        self.channel = channel if channel is not None else _open(address, CHANNEL_OPTIONS)

    def call(self, method: Callable[..., T], request: Any, timeout: float | None = 60.0) -> T:
        try:
            return method(request, metadata=call_context.current().metadata(), timeout=timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.peer) from None

    def close(self) -> None:
        self.channel.close()


class RemoteKernel(_Remote):
    """The kernels of ``addresses`` (one ``host:port``, or several: see the module's
    docstring for the balancing and failover). A failed call reads as the SDK reads one
    (:func:`eigen.client.channel.call_error`): a bare CANCELLED from a stopping kernel is
    Unavailable, a transient failure, not an internal error."""

    # this api node's own event bus on the kernels' fan-out (eigen.server.build), which the
    # REST stream of all jobs listens to; None without a fan-out (that stream is then 501)
    bus: EventBus | None = None

    def __init__(self, addresses: str | Sequence[str]) -> None:
        listed = [addresses] if isinstance(addresses, str) else list(addresses)
        super().__init__(", ".join(listed), "eigen-kernel", kernel_channel(listed, keyed_enqueue=True))
        self.stub = kernel_pb2_grpc.KernelServiceStub(self.channel)
        # unkeyed submissions and batches: no retry policy (a second send could store a second job)
        self.once_channel = kernel_channel(listed, keyed_enqueue=False)
        self.once_stub = kernel_pb2_grpc.KernelServiceStub(self.once_channel)

    def call(self, method: Callable[..., T], request: Any, timeout: float | None = 60.0) -> T:
        try:
            return method(request, metadata=call_context.current().metadata(), timeout=timeout)
        except grpc.RpcError as exc:
            raise call_error(exc, self.peer) from None

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
        stub = self.stub if idempotency_key else self.once_stub
        response = self.call(stub.Enqueue, message)
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
        idempotency_key: str | None = None,
        traceparent: str = "",
        tenant: str = DEFAULT_TENANT,
        quota: Quota = NO_QUOTA,
    ) -> tuple[list[Job], bool]:
        message = kernel_pb2.EnqueueBatchRequest(
            jobs=[convert.request_to_pb(r) for r in requests],
            owner=owner,
            tenant=tenant,
            idempotency_key=idempotency_key or "",
            **convert.quota_fields(quota),
        )
        stub = self.stub if idempotency_key else self.once_stub
        response = self.call(stub.EnqueueBatch, message)
        jobs = [convert.job_from_pb(j, r) for j, r in zip(response.jobs, requests, strict=True)]
        return jobs, response.deduplicated

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

    def dead_letters(
        self, tenant: str | None, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetter]:
        # The kernel pages by itself, as for list_jobs; a read, so retried on another kernel.
        request = jobs_pb2.ListDeadLettersRequest(
            tenant=tenant or "",
            page_size=limit,
            page_token=encode_cursor(before) if before is not None else "",
        )
        response = self.call(self.stub.ListDeadLetters, request)
        return [convert.dead_letter_from_pb(d) for d in response.dead_letters]

    def cancel(self, job_id: str) -> Job:
        return convert.job_from_pb(self.call(self.stub.CancelJob, jobs_pb2.CancelJobRequest(job_id=job_id)))

    def open_session(
        self, tenant: str, owner: str, target: str, max_time_s: float | None, idle_s: float | None
    ) -> Session:
        opened = jobs_pb2.OpenSessionRequest(
            target=target, max_time_s=max_time_s or 0.0, idle_s=idle_s or 0.0
        )
        message = kernel_pb2.KernelOpenSessionRequest(session=opened, tenant=tenant, owner=owner)
        return convert.session_from_pb(self.call(self.once_stub.OpenSession, message))

    def get_session(self, session_id: str, tenant: str | None) -> Session:
        return convert.session_from_pb(self.call(self.stub.GetSession, _session_request(session_id, tenant)))

    def close_session(self, session_id: str, tenant: str | None) -> Session:
        return convert.session_from_pb(
            self.call(self.stub.CloseSession, _session_request(session_id, tenant))
        )

    def cancel_session(self, session_id: str, tenant: str | None) -> Session:
        return convert.session_from_pb(
            self.call(self.stub.CancelSession, _session_request(session_id, tenant))
        )

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
            raise call_error(exc, self.peer) from None

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

    def close(self) -> None:
        self.once_channel.close()
        super().close()


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
