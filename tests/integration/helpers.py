"""Small builders shared by the integration tests."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from qiskit import QuantumCircuit

from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc

BELL = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""

# ~1 s of statevector work: long enough to observe a job before it ends.
SLOW = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[22] q;\n' + "".join(
    f"h q[{i}];\nrz(0.{i + 1}) q[{i}];\ncx q[{i}], q[{(i + 1) % 22}];\n" for i in range(22) for _ in range(3)
)


def bell_circuit() -> QuantumCircuit:
    """The Bell pair of :data:`BELL` as a measured qiskit circuit."""
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def job(source: str = BELL, **fields: object) -> pb.JobRequest:
    values: dict[str, object] = {
        "name": "it",
        "target": "sim:statevector",
        "shots": 1000,
        "seed": 11,
    }
    values.update(fields)
    return pb.JobRequest(program=pb.Program(source=source), **values)  # type: ignore[arg-type]


def submit(stub: jobs_pb2_grpc.JobServiceStub, request: pb.JobRequest, key: str = "") -> pb.Job:
    return stub.SubmitJob(jobs_pb2.SubmitJobRequest(job=request, idempotency_key=key)).job


def wait(stub: jobs_pb2_grpc.JobServiceStub, job_id: str) -> list[pb.JobEvent]:
    return list(stub.WatchJob(jobs_pb2.WatchJobRequest(job_id=job_id), timeout=120))


def details(error: grpc.RpcError) -> tuple[str, list[str]]:
    """(EIGEN_* reason, violated field names) of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status details"
    reason, fields = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields = [v.field for v in bad.field_violations]
    return reason, fields
