"""Internal-edge conversions: compile and execute messages <-> models (QPY for circuits)."""

from __future__ import annotations

import io
import json
from typing import Any

from qiskit import QuantumCircuit, qpy

from eigen.errors import InternalError, InvalidArgument, quote
from eigen.models.compiled import (
    CompiledProgram,
    CompileRequest,
    EstimationRequest,
    ExecutionRequest,
    HybridSpec,
    ProgramReturns,
)
from eigen.models.program import ProgramLanguage
from eigen.models.result import ExecutionResult
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.internal.v1 import compiler_pb2, driver_pb2


def circuit_to_qpy(circuit: Any) -> bytes:
    if circuit is None:
        return b""
    buffer = io.BytesIO()
    qpy.dump(circuit, buffer)
    return buffer.getvalue()


def circuit_from_qpy(data: bytes, field: str | None = None) -> Any:
    """The circuit of QPY ``data`` (None for no bytes, a circuit the sender did not have).

    With ``field``, the bytes came in a request, from whoever reached the port: bytes
    that are not exactly one QPY circuit (none, garbage, a stream the installed qiskit
    cannot read) are INVALID_ARGUMENT naming ``field``. Without it, they are the answer
    of a service Eigen called, and a bad one is an internal error. Either way nothing
    qiskit raises while decoding escapes as itself: its Rust parts panic with a
    ``BaseException``, which only an interpreter exit may pass through."""
    if not data:
        if field is not None:
            raise InvalidArgument.for_field(field, "no circuit: QPY bytes of one circuit are required")
        return None
    try:
        circuits = qpy.load(io.BytesIO(data))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # QpyError, struct.error, ValueError, a pyo3 panic, ...
        reason = f"not a QPY circuit ({type(exc).__name__}: {quote(str(exc))})"
        if field is None:
            raise InternalError(f"a service answered with a circuit that is {reason}") from None
        raise InvalidArgument.for_field(field, reason) from None
    if len(circuits) != 1 or not isinstance(circuits[0], QuantumCircuit):
        reason = f"QPY of {len(circuits)} programs, not of one circuit"
        if field is None:
            raise InternalError(f"a service answered with {reason}")
        raise InvalidArgument.for_field(field, reason)
    return circuits[0]


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


def _observable_pb(terms: list[tuple[str, float]]) -> pb.Observable:
    return pb.Observable(terms=[pb.PauliTerm(pauli=p, coefficient=c) for p, c in terms])


def compiled_to_pb(compiled: CompiledProgram) -> compiler_pb2.CompileResponse:
    message = compiler_pb2.CompileResponse(
        circuit_qpy=circuit_to_qpy(compiled.circuit),
        source_circuit_qpy=circuit_to_qpy(compiled.source_circuit),
        device=compiled.device,
        num_qubits=compiled.num_qubits,
        num_clbits=compiled.num_clbits,
        parameters=compiled.parameters,
        report=convert.struct(compiled.report),
        qasm3=compiled.qasm3,
        aqo_json=compiled.aqo_json,
        defaults=compiled.defaults,
        decorator=convert.struct(compiled.decorator),
        basis_circuits_qpy={b: circuit_to_qpy(c) for b, c in compiled.basis_circuits.items()},
        returns_json=compiled.returns.to_json() if compiled.returns is not None else "",
        empty=compiled.empty,
        decorator_json=json.dumps(compiled.decorator),
    )
    if compiled.hybrid is not None:
        hybrid = compiled.hybrid
        message.hybrid.CopyFrom(
            compiler_pb2.HybridSpec(
                observables={k: _observable_pb(v) for k, v in hybrid.observables.items()},
                objective=hybrid.objective or "",
                method=hybrid.method,
                max_iters=hybrid.max_iters,
                initial_params=hybrid.initial_params,
                options=convert.struct(hybrid.options),
                returns=hybrid.returns,
            )
        )
    return message


def compiled_from_pb(message: compiler_pb2.CompileResponse) -> CompiledProgram:
    hybrid = None
    if message.HasField("hybrid"):
        spec = message.hybrid
        hybrid = HybridSpec(
            observables={
                label: [(t.pauli, t.coefficient) for t in obs.terms]
                for label, obs in spec.observables.items()
            },
            objective=spec.objective or None,
            method=spec.method,
            max_iters=spec.max_iters,
            initial_params=dict(spec.initial_params),
            options=convert.plain(spec.options),
            returns=dict(spec.returns),
        )
    return CompiledProgram(
        circuit=circuit_from_qpy(message.circuit_qpy),
        device=message.device,
        num_qubits=message.num_qubits,
        num_clbits=message.num_clbits,
        parameters=list(message.parameters),
        report=convert.plain(message.report),
        qasm3=message.qasm3,
        aqo_json=message.aqo_json,
        source_circuit=circuit_from_qpy(message.source_circuit_qpy),
        defaults=dict(message.defaults),
        hybrid=hybrid,
        decorator=json.loads(message.decorator_json)
        if message.decorator_json
        else convert.plain(message.decorator),
        basis_circuits={b: circuit_from_qpy(q) for b, q in message.basis_circuits_qpy.items()},
        returns=ProgramReturns.from_json(message.returns_json) if message.returns_json else None,
        empty=message.empty,
    )


def execute_request_to_pb(request: ExecutionRequest) -> driver_pb2.ExecuteRequest:
    message = driver_pb2.ExecuteRequest(
        device=request.device,
        circuit_qpy=circuit_to_qpy(request.circuit),
        shots=request.shots,
        parameter_bindings=[pb.ParameterBinding(values=b) for b in request.parameter_bindings],
        noise_model=request.noise_model or "",
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
    )


def execution_result_to_pb(result: ExecutionResult) -> driver_pb2.ExecuteResponse:
    message = driver_pb2.ExecuteResponse(
        backend=result.backend,
        experiments=[convert.experiment_to_pb(e) for e in result.experiments],
        calibration_id=result.calibration_id,
        timings=result.timings,
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
    )


def estimate_request_to_pb(request: EstimationRequest) -> driver_pb2.EstimateRequest:
    return driver_pb2.EstimateRequest(
        device=request.device,
        circuit_qpy=circuit_to_qpy(request.circuit),
        observables=[_observable_pb(terms) for terms in request.observables],
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
