"""Internal-edge conversions: compile and execute messages <-> models (QPY for circuits)."""

from __future__ import annotations

# the compiled program's codec lives with the kernel, which stores it as an artifact
from eigen.kernel.compiled_codec import circuit_from_qpy as circuit_from_qpy
from eigen.kernel.compiled_codec import circuit_to_qpy as circuit_to_qpy
from eigen.kernel.compiled_codec import compiled_from_pb as compiled_from_pb
from eigen.kernel.compiled_codec import compiled_to_pb as compiled_to_pb
from eigen.kernel.compiled_codec import observable_pb
from eigen.models.compiled import (
    CompileRequest,
    EstimationRequest,
    ExecutionRequest,
)
from eigen.models.outputs import DEFAULT_OUTPUTS, Output
from eigen.models.program import ProgramLanguage
from eigen.models.result import ExecutionResult
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.internal.v1 import compiler_pb2, driver_pb2


def compile_request_to_pb(request: CompileRequest) -> compiler_pb2.CompileRequest:
    message = compiler_pb2.CompileRequest(
        program=pb.Program(
            source=request.program,
            language=convert.LANGUAGE_TO_PB[request.language],
            entrypoint=request.entrypoint,
        ),
        device=convert.device_to_pb(request.device),
    )
    if request.optimization_level is not None:
        message.optimization_level = request.optimization_level
    if request.seed is not None:
        message.seed = request.seed
    message.measurement_bases.extend(request.measurement_bases)
    return message


def compile_request_from_pb(message: compiler_pb2.CompileRequest) -> CompileRequest:
    language = convert.LANGUAGE_FROM_PB.get(message.program.language, ProgramLanguage.QASM3)
    return CompileRequest(
        program=message.program.source,
        language=language,
        device=convert.device_from_pb(message.device),
        entrypoint=message.program.entrypoint or "main",
        optimization_level=message.optimization_level if message.HasField("optimization_level") else None,
        seed=message.seed if message.HasField("seed") else None,
        measurement_bases=tuple(message.measurement_bases),
    )


def execute_request_to_pb(request: ExecutionRequest) -> driver_pb2.ExecuteRequest:
    message = driver_pb2.ExecuteRequest(
        device=request.device,
        circuit_qpy=circuit_to_qpy(request.circuit),
        shots=request.shots,
        parameter_bindings=[pb.ParameterBinding(values=b) for b in request.parameter_bindings],
        noise_model=request.noise_model or "",
        outputs=[o.value for o in request.outputs],
    )
    if request.seed is not None:
        message.seed = request.seed
    return message


def execute_request_from_pb(message: driver_pb2.ExecuteRequest) -> ExecutionRequest:
    return ExecutionRequest(
        device=message.device,
        circuit=circuit_from_qpy(message.circuit_qpy, "circuit_qpy"),
        shots=message.shots,
        seed=message.seed if message.HasField("seed") else None,
        parameter_bindings=[dict(b.values) for b in message.parameter_bindings],
        noise_model=message.noise_model or None,
        outputs=tuple(Output(o) for o in message.outputs) or DEFAULT_OUTPUTS,
    )


def execution_result_to_pb(result: ExecutionResult) -> driver_pb2.ExecuteResponse:
    message = driver_pb2.ExecuteResponse(
        backend=result.backend,
        experiments=[convert.experiment_to_pb(e) for e in result.experiments],
        calibration_id=result.calibration_id,
        timings=result.timings,
        engine=result.engine,
    )
    if result.seed is not None:
        message.seed = result.seed
    return message


def execution_result_from_pb(message: driver_pb2.ExecuteResponse) -> ExecutionResult:
    return ExecutionResult(
        backend=message.backend,
        experiments=[convert.experiment_from_pb(e) for e in message.experiments],
        seed=message.seed if message.HasField("seed") else None,
        calibration_id=message.calibration_id,
        timings=dict(message.timings),
        engine=message.engine,
    )


def estimate_request_to_pb(request: EstimationRequest) -> driver_pb2.EstimateRequest:
    return driver_pb2.EstimateRequest(
        device=request.device,
        circuit_qpy=circuit_to_qpy(request.circuit),
        observables=[observable_pb(terms) for terms in request.observables],
        parameter_bindings=[pb.ParameterBinding(values=b) for b in request.parameter_bindings],
    )


def estimate_request_from_pb(message: driver_pb2.EstimateRequest) -> EstimationRequest:
    return EstimationRequest(
        device=message.device,
        circuit=circuit_from_qpy(message.circuit_qpy, "circuit_qpy"),
        observables=[[(t.pauli, t.coefficient) for t in o.terms] for o in message.observables],
        parameter_bindings=[dict(b.values) for b in message.parameter_bindings],
    )


def estimates_to_pb(values: list[list[float]]) -> driver_pb2.EstimateResponse:
    return driver_pb2.EstimateResponse(
        bindings=[driver_pb2.EstimateResponse.Values(values=row) for row in values]
    )


def estimates_from_pb(message: driver_pb2.EstimateResponse) -> list[list[float]]:
    return [list(row.values) for row in message.bindings]
