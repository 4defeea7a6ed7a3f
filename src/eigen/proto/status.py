"""The error envelope on gRPC: EigenError <-> non-OK status with google.rpc.Status details
(ErrorInfo with the EIGEN_* reason and ``retryable``; BadRequest field violations)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from eigen.errors import DOMAIN, EigenError, FieldViolation, error_for


def to_status(error: EigenError) -> grpc.Status:
    grpc_code = getattr(grpc.StatusCode, error.info.grpc)
    info = error_details_pb2.ErrorInfo(
        reason=error.code,
        domain=DOMAIN,
        metadata={**error.metadata, "retryable": "true" if error.retryable else "false"},
    )
    details = [info]
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                    for v in error.violations
                ]
            )
        )
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = status_pb2.Status(code=getattr(code_pb2, error.info.grpc), message=error.message, details=packed)
    converted = rpc_status.to_status(status)
    assert converted.code == grpc_code
    return converted


def from_rpc_error(error: grpc.RpcError) -> EigenError | None:
    """The EigenError carried by a failed call, or None when it carries no Eigen details."""
    if not isinstance(error, grpc.Call):
        return None
    status = rpc_status.from_call(error)
    if status is None:
        return None
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
            metadata = {k: v for k, v in info.metadata.items() if k != "retryable"}
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
    if not reason:
        return None
    error = error_for(reason, status.message, violations)
    error.metadata.update(metadata)  # e.g. retry_after_s, line: they survive every hop
    return error


def error_from_rpc(error: grpc.RpcError, peer: str) -> EigenError:
    """Always an EigenError: the carried one, or one made from the bare status code."""
    carried = from_rpc_error(error)
    if carried is not None:
        return carried
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        reason = "EIGEN_UNAVAILABLE" if code is grpc.StatusCode.UNAVAILABLE else "EIGEN_DEADLINE_EXCEEDED"
        return error_for(reason, f"{peer} is not reachable: {details}")
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return error_for("EIGEN_UNIMPLEMENTED", details or "not implemented")
    return error_for("EIGEN_INTERNAL", f"{peer} failed: {code.name if code else 'error'}: {details}")
