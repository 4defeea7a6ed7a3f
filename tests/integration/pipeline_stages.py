"""The three stages of an H2 pipeline, as API requests the pipeline tests submit: a VQE that
publishes its optimal parameters and energy, a circuit that takes those parameters and
measures the Hamiltonian's expectation value exactly, and a sampling stage of the same
circuit at the parameters the second stage hands along."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eigen.proto.api.v1 import common_pb2 as pb

ROOT = Path(__file__).resolve().parents[2]
VQE = (ROOT / "examples" / "vqe-h2" / "program.eigen.py").read_text()
ANSATZ = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] t0;
input float[64] t1;
input float[64] t2;
input float[64] t3;
qubit[2] q;
ry(t0) q[0];
ry(t1) q[1];
cx q[0], q[1];
ry(t2) q[0];
ry(t3) q[1];
"""
H2 = {
    "II": -1.052373245772859,
    "IZ": 0.39793742484318045,
    "ZI": -0.39793742484318045,
    "ZZ": -0.01128010425623538,
    "XX": 0.18093119978423156,
}
EXACT = -1.8572750302
OPTIMAL = "qfs://pipeline/h2/vqe/optimal_parameters"


def stage(source: str, pipeline: dict[str, Any], **fields: Any) -> pb.JobRequest:
    """A PipelineJob stage with ``pipeline`` as its ``spec.workload.pipeline``."""
    values: dict[str, Any] = {"name": "stage", "target": "sim:statevector", "shots": 0}
    values.update(fields)
    extensions = {"workload": {"kind": "PipelineJob", "pipeline": pipeline}}
    return pb.JobRequest(
        program=pb.Program(source=source),
        workload="PipelineJob",
        extensions_json=json.dumps(extensions),
        **values,
    )


def vqe(**pipeline: Any) -> pb.JobRequest:
    given = {"stage_id": "vqe", "output_refs": [OPTIMAL, "energy"], "handoff_ref": OPTIMAL, **pipeline}
    return stage(VQE, given, name="vqe", seed=7)


def energy_check(upstream: str, **pipeline: Any) -> pb.JobRequest:
    """The ansatz at the VQE's optimum, its energy measured exactly (an observable)."""
    given = {
        "stage_id": "check",
        "depends_on": [f"job:{upstream}"],
        "input_refs": [OPTIMAL],
        "output_refs": ["parameters", "expectation_values"],
        "handoff_ref": "parameters",
        **pipeline,
    }
    terms = [pb.PauliTerm(pauli=label, coefficient=value) for label, value in H2.items()]
    return stage(ANSATZ, given, name="check", observables=[pb.Observable(terms=terms)])


def sampling(upstream: str, **pipeline: Any) -> pb.JobRequest:
    """The same circuit sampled at the parameters the check stage hands along."""
    given = {"stage_id": "sample", "input_refs": [f"job:{upstream}"], "output_refs": ["counts"], **pipeline}
    return stage(ANSATZ, given, name="sample", shots=4000, seed=3)
