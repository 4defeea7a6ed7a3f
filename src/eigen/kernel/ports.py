"""The kernel's ports: how it reaches the compiler and the driver-manager.

Each port has an in-process implementation (the services themselves) and a gRPC one
(``eigen.server.remote``); the kernel never knows which it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eigen.errors import EigenError
from eigen.models.compiled import (
    CompiledProgram,
    CompileRequest,
    EstimationRequest,
    ExecutionRequest,
)
from eigen.models.result import ExecutionResult
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus


class CompilerPort(Protocol):
    def validate(self, request: CompileRequest) -> CompiledProgram: ...

    def compile(self, request: CompileRequest) -> CompiledProgram: ...

    def optimize(self, request: CompileRequest) -> CompiledProgram: ...

    def cached(self, request: CompileRequest) -> CompiledProgram | None:
        """``compile(request)`` when it is at hand without compiling (a cache hit), else
        None; never slow, so it needs no deadline."""

    def validated(self, request: CompileRequest) -> CompiledProgram | None:
        """``validate(request)`` when it is at hand without parsing (a cache hit), else
        None (also where ``validate`` would refuse it); never slow, so a caller on an event
        loop may use it and validate off the loop on a miss."""


class DriverPort(Protocol):
    def list_devices(self) -> list[DeviceInfo]: ...

    def device(self, name: str) -> DeviceInfo: ...

    def device_status(self, name: str) -> DeviceStatus: ...

    def execute(self, request: ExecutionRequest) -> ExecutionResult: ...

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        """``execute`` of each request, in order, in one call where the driver-manager can
        (one hand-off to a driver process for them all); a request that fails has its
        error in its place and does not stop the others."""

    def estimate(self, request: EstimationRequest) -> list[list[float]]: ...

    def calibrate(self, name: str) -> Calibration: ...
