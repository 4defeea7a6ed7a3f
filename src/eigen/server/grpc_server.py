"""The gRPC server of a process: the servicers of its roles, health checking, reflection."""

from __future__ import annotations

from concurrent import futures

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
from eigen.server.build import Stack
from eigen.server.internal import CompilationServicer, DriverManagerServicer, KernelServicer
from eigen.system_api.grpc.jobs import BackendServicer, JobServicer


def start_grpc(stack: Stack, settings: Settings) -> tuple[grpc.Server, int]:
    """Start serving the stack's roles on ``settings.host:settings.port``; returns the port."""
    options = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.so_reuseport", 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.grpc_workers, thread_name_prefix="eigen-rpc"),
        options=options,
    )
    names: list[str] = []
    if stack.api is not None:
        jobs_pb2_grpc.add_JobServiceServicer_to_server(JobServicer(stack.api), server)
        jobs_pb2_grpc.add_BackendServiceServicer_to_server(BackendServicer(stack.api), server)
        names += [
            jobs_pb2.DESCRIPTOR.services_by_name["JobService"].full_name,
            jobs_pb2.DESCRIPTOR.services_by_name["BackendService"].full_name,
        ]
    if "kernel" in stack.roles and stack.kernel is not None:
        kernel_pb2_grpc.add_KernelServiceServicer_to_server(KernelServicer(stack.kernel), server)
        names.append(kernel_pb2.DESCRIPTOR.services_by_name["KernelService"].full_name)
    if "compiler" in stack.roles and stack.compiler is not None:
        compiler_pb2_grpc.add_CompilationServiceServicer_to_server(
            CompilationServicer(stack.compiler), server
        )
        names.append(compiler_pb2.DESCRIPTOR.services_by_name["CompilationService"].full_name)
    if "driver-manager" in stack.roles and stack.drivers is not None:
        driver_pb2_grpc.add_DriverManagerServiceServicer_to_server(
            DriverManagerServicer(stack.drivers), server
        )
        names.append(driver_pb2.DESCRIPTOR.services_by_name["DriverManagerService"].full_name)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        raise OSError(f"cannot bind {settings.host}:{settings.port}")
    server.start()
    return server, port
