"""Test doubles for the kernel's ports (tests only) and a started kernel on a memory store."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from qiskit import QuantumCircuit

from eigen.errors import EigenError, ExecutionFailed, InvalidArgument, NotFound
from eigen.kernel.qfs.artifacts import ArtifactStore
from eigen.kernel.service import Kernel, KernelSettings
from eigen.kernel.store.memory import MemoryJobStore
from eigen.models.compiled import CompiledProgram, CompileRequest, ExecutionRequest
from eigen.models.job import JobRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import ExecutionResult, Experiment
from eigen.models.target import Calibration, DeviceInfo, DeviceStatus

DEVICE = DeviceInfo(name="test:device", num_qubits=4, basis_gates=("h", "cx"), max_shots=10_000)

# A program qiskit's native OpenQASM 3 parser panics on (a Rust panic, raised in Python as
# pyo3_runtime.PanicException, which is a BaseException and not an Exception).
PANICKING_QASM3 = "OPENQASM 3.0;\nconst uint n = 2;\nqubit[n] q;\n"


@functools.cache
def foreign_panic() -> BaseException:
    """A real ``pyo3_runtime.PanicException``, made by a real panic in qiskit's parser; a
    stand-in ``BaseException`` subclass where this qiskit no longer panics on it."""
    import qiskit.qasm3

    try:
        qiskit.qasm3.loads_experimental(PANICKING_QASM3, include_path=[])
    except BaseException as exc:  # the panic is what we want
        if not isinstance(exc, Exception):
            return exc
    return StandInPanic("a stand-in for a foreign panic")


class StandInPanic(BaseException):
    """A BaseException that is neither an Exception nor an interpreter signal."""


class FakeCompiler:
    """Accepts any program except one containing 'bad'; counts compile calls."""

    def __init__(self) -> None:
        self.compiled = 0

    def validate(self, request: CompileRequest) -> CompiledProgram:
        if "bad" in request.program:
            raise InvalidArgument.for_field("program", "cannot parse")
        return self._program(request)

    def compile(self, request: CompileRequest) -> CompiledProgram:
        self.compiled += 1
        if "explode" in request.program:
            raise RuntimeError("compiler bug")
        return self._program(request)

    optimize = compile

    def cached(self, request: CompileRequest) -> CompiledProgram | None:
        return None  # every compile is a call, so the deadline applies to each

    def validated(self, request: CompileRequest) -> CompiledProgram | None:
        return None  # every validation is a call (off the event loop)

    def _program(self, request: CompileRequest) -> CompiledProgram:
        return CompiledProgram(
            # a real circuit (the compiled program is stored as QPY), named by its program
            circuit=QuantumCircuit(2, 2, name=request.program),
            device=request.device.name,
            num_qubits=2,
            num_clbits=2,
            parameters=[],
            report={"depth": 2, "after": {"size": 3}},
            qasm3="OPENQASM 3.0;",
            aqo_json="{}",
        )


class FakeDrivers:
    """One device; execute returns fixed counts, or waits on ``gate`` when it is set up."""

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.started = threading.Event()
        self.executed: list[str] = []
        self.batches: list[int] = []  # sizes of execute_many calls

    def list_devices(self) -> list[DeviceInfo]:
        return [DEVICE]

    def device(self, name: str) -> DeviceInfo:
        if name != DEVICE.name:
            raise NotFound(f"unknown backend {name!r}")
        return DEVICE

    def device_status(self, name: str) -> DeviceStatus:
        return DeviceStatus.ONLINE

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.executed.append(request.circuit.name)
        if "fail-run" in request.circuit.name:
            raise ExecutionFailed(f"{request.device}: the circuit failed")
        return ExecutionResult(
            backend=request.device,
            experiments=[Experiment(counts={"00": request.shots}, shots=request.shots)],
            seed=request.seed if request.seed is not None else 1,
        )

    def execute_many(self, requests: Sequence[ExecutionRequest]) -> list[ExecutionResult | EigenError]:
        self.batches.append(len(requests))
        outcomes: list[ExecutionResult | EigenError] = []
        for request in requests:
            try:
                outcomes.append(self.execute(request))
            except EigenError as exc:
                outcomes.append(exc)
        return outcomes

    def calibrate(self, name: str) -> Calibration:
        return Calibration(device=name, calibration_id="cal-1", taken_at="now")


def job_request(program: str = "OPENQASM 3.0; qubit[2] q;", **fields: object) -> JobRequest:
    base: dict[str, object] = {
        "name": "t",
        "program": program,
        "language": ProgramLanguage.QASM3,
        "target": DEVICE.name,
        "shots": 100,
    }
    return JobRequest(**{**base, **fields})


@pytest.fixture
def drivers() -> FakeDrivers:
    return FakeDrivers()


@pytest.fixture
def compiler() -> FakeCompiler:
    return FakeCompiler()


@pytest.fixture
def kernel(tmp_path: Path, compiler: FakeCompiler, drivers: FakeDrivers) -> Iterator[Kernel]:
    kernel = Kernel(
        MemoryJobStore(),
        ArtifactStore(tmp_path / "artifacts"),
        compiler,
        drivers,
        KernelSettings(watchdog_interval_s=0.02),
    )
    kernel.start()
    yield kernel
    if drivers.gate is not None:
        drivers.gate.set()
    kernel.stop()
