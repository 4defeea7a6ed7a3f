"""A compiled program as bytes: the CompilationService's ``CompileResponse`` with QPY
circuits. It is what crosses the compiler's internal edge, and what the compile stage
stores as the job's ``compiled.pb`` artifact, so that whichever node executes the job
runs the program another compiled (:mod:`eigen.kernel.pipeline`)."""

from __future__ import annotations

import io
import json
from typing import Any

from qiskit import QuantumCircuit, qpy

from eigen.errors import InternalError, InvalidArgument, quote
from eigen.models.compiled import CompiledProgram, HybridSpec, ProgramReturns
from eigen.proto import convert
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.internal.v1 import compiler_pb2


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


def observable_pb(terms: list[tuple[str, float]]) -> pb.Observable:
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
                observables={k: observable_pb(v) for k, v in hybrid.observables.items()},
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


def compiled_to_bytes(compiled: CompiledProgram) -> bytes:
    """The artifact's bytes of ``compiled``."""
    return bytes(compiled_to_pb(compiled).SerializeToString())


def compiled_from_bytes(data: bytes) -> CompiledProgram:
    """The program of a ``compiled.pb`` artifact (InternalError for bytes that are not one)."""
    message = compiler_pb2.CompileResponse()
    try:
        message.ParseFromString(data)
    except Exception as exc:  # DecodeError
        raise InternalError(f"a compiled program artifact that cannot be read: {exc}") from None
    return compiled_from_pb(message)
