"""A sweep's experiments are titled with their bindings in the program's declaration order:
the compile report lists the parameters so, and the list survives every edge to the CLI."""

from __future__ import annotations

import io

from qiskit.circuit import Parameter, QuantumCircuit
from rich.console import Console

from eigen.cli import render
from eigen.compiler import CompilationService
from eigen.compiler.report import parameter_order
from eigen.compiler.sandbox import ProgramSandbox
from eigen.models.compiled import CompileRequest
from eigen.models.program import ProgramLanguage
from eigen.models.result import Experiment, JobResult
from eigen.models.target import DeviceInfo
from eigen.proto import convert
from eigen.server import wire

DEVICE = DeviceInfo("sim:statevector", 28, ("rz", "sx", "x", "cx"))
JOB_ID = "job-0123456789abcdef0123456789abcdef"

# declared zeta, alpha, mid; used alpha first; mid never (still a bindable Param)
PROGRAM = """
from eigen_lang import ClassicalRegister, Param, QubitRegister, cx, hybrid_program, measure, rx, rz


@hybrid_program
def main():
    q = QubitRegister(2)
    c = ClassicalRegister(2)
    zeta = Param("zeta", 0.1)
    alpha = Param("alpha", 0.2)
    mid = Param("mid", 0.3)
    rx(q[0], alpha)
    rz(q[1], zeta)
    cx(q[0], q[1])
    measure(q[0], q[1], c=[c[0], c[1]])
"""

QASM = """OPENQASM 3.0;
include "stdgates.inc";
input float zeta;
input float alpha;
qubit[1] q;
bit[1] c;
rx(zeta) q[0];
rz(alpha) q[0];
c[0] = measure q[0];
"""


def request(source: str, language: ProgramLanguage) -> CompileRequest:
    return CompileRequest(source, language, DEVICE)


def test_an_eigen_lang_report_lists_the_params_as_declared_used_or_not() -> None:
    service = CompilationService()
    compiled = service.compile(request(PROGRAM, ProgramLanguage.EIGEN_LANG))
    assert compiled.report["parameters"] == ["zeta", "alpha", "mid"]
    assert compiled.parameters == ["alpha", "zeta"]  # the circuit's free parameters, by name
    validated = service.validate(request(PROGRAM, ProgramLanguage.EIGEN_LANG))
    assert validated.report["parameters"] == ["zeta", "alpha", "mid"]


def test_the_order_crosses_the_program_sandbox() -> None:
    sandbox = ProgramSandbox(workers=1)
    try:
        compiled = CompilationService(parser=sandbox).compile(request(PROGRAM, ProgramLanguage.EIGEN_LANG))
    finally:
        sandbox.close()
    assert compiled.report["parameters"] == ["zeta", "alpha", "mid"]


def test_a_qasm_report_lists_the_inputs_in_the_order_the_program_uses_them() -> None:
    compiled = CompilationService().compile(request(QASM, ProgramLanguage.QASM3))
    assert compiled.report["parameters"] == ["zeta", "alpha"]  # not by name
    plain = QASM.replace("input float zeta;\ninput float alpha;\n", "").replace("zeta", "0.5")
    bell = CompilationService().compile(request(plain.replace("alpha", "0.1"), ProgramLanguage.QASM3))
    assert bell.report["parameters"] == []


def test_first_uses_read_expressions_blocks_and_the_global_phase() -> None:
    b, a, c, d = (Parameter(name) for name in "bacd")
    circuit = QuantumCircuit(1, 1, global_phase=d)
    circuit.rx(b + a, 0)  # one expression's parameters by name: a, b
    with circuit.if_test((circuit.clbits[0], 1)):
        circuit.rz(c, 0)
    assert parameter_order(circuit) == ["d", "a", "b", "c"]
    assert parameter_order(circuit, ["c", "z"]) == ["c", "z", "d", "a", "b"]
    assert parameter_order(QuantumCircuit(1), ["x"]) == ["x"]


def test_the_list_survives_the_compiler_edge_and_the_result_message() -> None:
    compiled = CompilationService().compile(request(PROGRAM, ProgramLanguage.EIGEN_LANG))
    crossed = wire.compiled_from_pb(wire.compiled_to_pb(compiled))  # a Struct on CompilationService
    assert crossed.report["parameters"] == ["zeta", "alpha", "mid"]
    result = JobResult(job_id=JOB_ID, backend=DEVICE.name, experiments=[], compile_report=crossed.report)
    assert convert.result_from_pb(convert.result_to_pb(result)).compile_report["parameters"] == [
        "zeta",
        "alpha",
        "mid",
    ]


def test_sweep_titles_follow_the_declaration_order() -> None:
    report = CompilationService().compile(request(PROGRAM, ProgramLanguage.EIGEN_LANG)).report
    experiments = [
        Experiment(counts={"00": 5}, shots=5, bindings={"alpha": 0.5, "mid": 1.0, "zeta": 0.25}),
        Experiment(counts={"11": 5}, shots=5, bindings={"alpha": 1.5, "mid": 2.0, "zeta": 0.75}),
    ]
    result = JobResult(job_id=JOB_ID, backend=DEVICE.name, experiments=experiments, compile_report=report)
    result = convert.result_from_pb(convert.result_to_pb(result))  # as eigen-cli gets it
    buffer = io.StringIO()
    render.print_results(Console(file=buffer, width=80, no_color=True), result)
    text = buffer.getvalue()
    assert "experiment 0 (zeta=0.25, alpha=0.5, mid=1)" in text
    assert "experiment 1 (zeta=0.75, alpha=1.5, mid=2)" in text
