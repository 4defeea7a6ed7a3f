"""The gRPC server of a process: the servicers of its roles, health checking, reflection.

It is a ``grpc.aio`` server on an event loop of its own thread: a watch waits on that
loop instead of holding a thread, and a quick call runs there without a hand-off to a
worker thread. Work that may block runs on the RPC thread pool (``grpc_workers``
threads), the loop's default executor (see :mod:`eigen.system_api.grpc.handlers`).

An internal service (KernelService, CompilationService, DriverManagerService) is served
only by a process whose caller of it is another process (:func:`internal_service`): the
four-process topology serves each on its role's own port, while the all-in-one server
(role ``all``) and the embedded stack call them in process and serve only the public
services, health and reflection.

With TLS configured the port is a TLS port (``grpc.dynamic_ssl_server_credentials`` over
the files of :class:`eigen.security.tls.CertificateFiles`, re-read on the next connection
after they change; client certificates required with a client CA).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent import futures
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from eigen.config.settings import Settings
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from eigen.proto.internal.v1 import (
    compiler_pb2,
    compiler_pb2_grpc,
    driver_pb2,
    driver_pb2_grpc,
    kernel_pb2,
    kernel_pb2_grpc,
)
from eigen.security import tls
from eigen.server.build import Stack
from eigen.server.internal import CompilationServicer, DriverManagerServicer, KernelServicer
from eigen.server.readiness import follow_kernel_health
from eigen.system_api.grpc.jobs import BackendServicer, JobServicer

T = TypeVar("T")


#: The calls a draining kernel would refuse (UNAVAILABLE) and that no one sends again: an
#: unkeyed submission and a batch. A stopping process lets those it accepted finish before
#: its kernel drains (:class:`InFlight`).
SUBMISSIONS = ("Enqueue", "EnqueueBatch", "SubmitBatch", "SubmitJob")


class InFlight(grpc.aio.ServerInterceptor):
    """Counts the submissions (:data:`SUBMISSIONS`) a server is answering, so that a
    stopping process lets those it accepted reach the kernel before the kernel drains and
    refuses new ones. Other calls are not counted: reads are answered while the kernel
    drains, and a WatchJob lasts as long as its job (it ends when the kernel stops)."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no submission is in flight (at most ``timeout`` s); whether none is."""
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout)

    def _enter(self) -> None:
        with self._idle:
            self._count += 1

    def _leave(self) -> None:
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method.rpartition("/")[2]
        if handler is None or handler.request_streaming or handler.response_streaming:
            return handler
        if method not in SUBMISSIONS:
            return handler
        behavior = handler.unary_unary
        if inspect.iscoroutinefunction(behavior):

            async def counted(request: Any, context: Any) -> Any:
                self._enter()
                try:
                    return await behavior(request, context)
                finally:
                    self._leave()

        else:

            def counted(request: Any, context: Any) -> Any:  # type: ignore[misc]
                self._enter()
                try:
                    return behavior(request, context)
                finally:
                    self._leave()

        return grpc.unary_unary_rpc_method_handler(
            counted,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class GrpcServer:
    """A started server; ``stop(grace)`` returns an event set once it has stopped (as
    ``grpc.Server.stop`` does); after it, ``in_flight.wait_idle`` waits for the submissions
    it accepted."""

    def __init__(self, settings: Settings) -> None:
        self.in_flight = InFlight()
        self._loop = asyncio.new_event_loop()
        self._pool = futures.ThreadPoolExecutor(
            max_workers=settings.grpc_workers, thread_name_prefix="eigen-rpc"
        )
        self._loop.set_default_executor(self._pool)
        self._thread = threading.Thread(target=self._run_loop, name="eigen-grpc-loop", daemon=True)
        self._thread.start()
        self._stopped: threading.Event | None = None
        self.server: grpc.aio.Server | None = None
        self.health: asyncio.Future[None] | None = None
        self.port = 0

    def _run_loop(self) -> None:
        self._loop.run_forever()
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the server's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def stop(self, grace: float | None) -> threading.Event:
        """Refuse new RPCs now; those in flight get up to ``grace`` seconds, then are
        cancelled. Idempotent; the returned event is set once the loop has ended."""
        if self._stopped is not None:
            return self._stopped
        stopped = self._stopped = threading.Event()
        server = self.server
        if self.health is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.health.cancel)

        def finished(_: object) -> None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
            self._pool.shutdown(wait=False, cancel_futures=True)
            stopped.set()

        if server is None or self._loop.is_closed():
            finished(None)
            return stopped
        done = asyncio.run_coroutine_threadsafe(server.stop(grace), self._loop)
        threading.Thread(
            target=lambda: finished(done.exception()), name="eigen-grpc-stop", daemon=True
        ).start()
        return stopped


#: The role that calls each internal role's service (RFC 0002's service graph).
CALLER_OF = {"kernel": "api", "compiler": "kernel", "driver-manager": "kernel"}


def internal_service(role: str, roles: frozenset[str]) -> bool:
    """Whether a process hosting ``roles`` serves ``role``'s internal service: only when
    the process hosts that role and not the role that calls it. A caller in the same
    process holds the service itself, so serving it would only hand the internal edges
    (KernelService.Enqueue with any owner, CancelJob, DriverManagerService.Execute of any
    circuit) to whoever reaches the port; in role ``all`` the port is the public one."""
    return role in roles and CALLER_OF[role] not in roles


def start_grpc(
    stack: Stack, settings: Settings, certificates: tls.CertificateFiles | None = None
) -> tuple[GrpcServer, int]:
    """Start serving the stack's roles on ``settings.host:settings.port`` (TLS with
    ``certificates``); returns the port."""
    handle = GrpcServer(settings)
    try:
        handle.port = handle.run(_serve(handle, stack, settings, certificates))
    except BaseException:
        handle.stop(0).wait()
        raise
    return handle, handle.port


async def _serve(
    handle: GrpcServer, stack: Stack, settings: Settings, certificates: tls.CertificateFiles | None
) -> int:
    options = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = handle.server = grpc.aio.server(options=options, interceptors=[handle.in_flight])
    names: list[str] = []
    if stack.api is not None:
        local = stack.kernel is not None
        jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(stack.api, local=local), server)
        jobs_pb2_grpc.add_BackendServiceServicer_to_server(BackendServicer(stack.api), server)
        names += [
            jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
            jobs_pb2.DESCRIPTOR.services_by_name["BackendService"].full_name,
        ]
    if internal_service("kernel", stack.roles) and stack.kernel is not None:
        kernel_pb2_grpc.add_KernelServiceServicer_to_server(KernelServicer(stack.kernel), server)
        names.append(kernel_pb2.DESCRIPTOR.services_by_name["KernelService"].full_name)
    if internal_service("compiler", stack.roles) and stack.compiler is not None:
        compiler_pb2_grpc.add_CompilationServiceServicer_to_server(
            CompilationServicer(stack.compiler), server
        )
        names.append(compiler_pb2.DESCRIPTOR.services_by_name["CompilationService"].full_name)
    if internal_service("driver-manager", stack.roles) and stack.drivers is not None:
        driver_pb2_grpc.add_DriverManagerServiceServicer_to_server(
            DriverManagerServicer(stack.drivers), server
        )
        names.append(driver_pb2.DESCRIPTOR.services_by_name["DriverManagerService"].full_name)
    health_servicer = health.aio.HealthServicer()  # the asyncio servicer grpc_health ships
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    address = f"{settings.host}:{settings.port}"
    if certificates is not None:
        port = server.add_secure_port(address, tls.grpc_credentials(certificates))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind {settings.host}:{settings.port}")
    await server.start()
    if stack.kernel is not None:  # health follows the kernel's problems (a dead worker, a full disk)
        handle.health = asyncio.ensure_future(
            follow_kernel_health(stack.kernel, health_servicer, ["", *names], store=stack.kernel.store)
        )
    return port
