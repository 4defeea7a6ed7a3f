"""Issue 14 item 4: an accepted program of nested gate definitions stays small in the server.

The OpenQASM 3 fallback importer copied a gate's definition at each call, so a program of
a few hundred bytes whose gates call each other became an object graph the size of its
expansion (thousands of operations). The server unpickled it from the program sandbox,
cached it, copied it and had the garbage collector walk it, each time with the
interpreter lock held, while every other RPC waited. Calls of one gate now share one
definition: what crosses back from the sandbox is proportional to the program's text.
"""

from __future__ import annotations

import pickle

import pytest
from qiskit import QuantumCircuit

from eigen.compiler.parse import parse_and_check
from eigen.proto.api.v1 import common_pb2 as pb
from eigen.proto.api.v1 import jobs_pb2, jobs_pb2_grpc
from tests.integration.helpers import job, submit, wait

pytestmark = pytest.mark.integration


def nested(levels: int, gate: str = "h") -> str:
    """``g{levels-1}`` on q[0]: ``gate`` applied 2**(levels-1) times through definitions."""
    lines = ["OPENQASM 3.0;", 'include "stdgates.inc";', f"gate g0 a {{ {gate} a; }}"]
    lines += [f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def definitions(circuit: QuantumCircuit) -> dict[str, set[int]]:
    """For each gate name, the ids of the distinct definition objects its calls reach
    (each distinct object walked once)."""
    seen: dict[int, QuantumCircuit] = {}
    names: dict[str, set[int]] = {}
    pending = [circuit]
    while pending:
        body = pending.pop()
        for item in body.data:
            definition = getattr(item.operation, "_definition", None)
            if isinstance(definition, QuantumCircuit):
                names.setdefault(item.operation.name, set()).add(id(definition))
                if id(definition) not in seen:
                    seen[id(definition)] = definition
                    pending.append(definition)
    return names


def test_calls_of_one_gate_share_its_definition() -> None:
    """13 gate definitions expanding to 4,096 operations: 13 definition objects, and a
    pickle (what the sandbox sends back) of a few KiB, not megabytes."""
    source = nested(13) + "qubit[1] q;\ng12 q[0];\n"
    parsed = parse_and_check(source, "qasm3")
    found = definitions(parsed.circuit)
    assert {name: len(ids) for name, ids in found.items() if name.startswith("g")} == {
        f"g{level}": 1 for level in range(13)
    }
    assert len(pickle.dumps(parsed)) < 64 * 1024


def test_calls_with_other_parameters_keep_their_own_definitions() -> None:
    source = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\ngate rot(t) a { rx(t) a; }\n'
        "qubit[2] q;\nrot(pi) q[0];\nrot(0) q[1];\nrot(pi) q[1];\n"
    )
    circuit = parse_and_check(source, "qasm3").circuit
    angles = [item.operation.definition.data[0].operation.params[0] for item in circuit.data]
    assert [round(float(a), 6) for a in angles] == [3.141593, 0.0, 3.141593]
    assert circuit.data[0].operation.definition is circuit.data[2].operation.definition
    assert circuit.data[1].operation.definition is not circuit.data[0].operation.definition


def test_a_job_of_shared_definitions_runs_as_written(jobs: jobs_pb2_grpc.JobServiceStub) -> None:
    """x applied 2,048 times through nested gates is the identity; rot(pi) flips q[1] and
    rot(0) on q[2] does nothing: every shot reads q = 010 (c[2] c[1] c[0])."""
    source = (
        nested(12, "x")
        + "gate rot(t) a { rx(t) a; }\nqubit[3] q;\nbit[3] c;\n"
        + "g11 q[0];\nrot(pi) q[1];\nrot(0) q[2];\nc = measure q;\n"
    )
    accepted = submit(jobs, job(source, shots=200))
    assert wait(jobs, accepted.id)[-1].state == pb.JOB_STATE_DONE
    results = jobs.GetJobResults(jobs_pb2.GetJobResultsRequest(job_id=accepted.id))
    assert dict(results.experiments[0].counts) == {"010": 200}
