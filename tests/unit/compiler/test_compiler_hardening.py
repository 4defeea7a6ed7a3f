"""Programs that used to crash, stall or flood the compiler: each is refused in bounded time
with one INVALID_ARGUMENT on ``program`` (or, past parsing, a CompilationFailed)."""

from __future__ import annotations

import time

import pytest
from poison_programs import BELL, CONST_DESIGNATOR, NO_VERSION, REPEATED, nested_gates
from qiskit.circuit import CircuitInstruction, Gate, QuantumCircuit
from qiskit.circuit.library import CXGate

from eigen.compiler import CompilationService
from eigen.compiler.checks import check_structure
from eigen.compiler.parse import ParsedProgram, parse_and_check
from eigen.compiler.qasm import MAX_CONVERTED_OPERATIONS
from eigen.errors import CompilationFailed, EigenError, InvalidArgument
from eigen.models.compiled import CompileRequest
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo

DEVICE = DeviceInfo("sim:statevector", 28, ("rz", "sx", "x", "cx"))


def refused(source: str, language: str = "qasm3") -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        parse_and_check(source, language)
    assert [v.field for v in caught.value.violations] == ["program"]
    assert caught.value.message.startswith("program: ")
    return caught.value


def test_a_repeated_operand_is_refused_naming_the_instruction() -> None:
    error = refused(REPEATED)
    assert "instruction 0 ('cx') has a repeated operand, qubit q[0]" in error.message


def test_a_repeated_operand_inside_a_gate_definition_is_refused() -> None:
    inner = QuantumCircuit(2)
    inner._append(CircuitInstruction(CXGate(), (inner.qubits[0], inner.qubits[0])))
    gate = Gate("pair", 2, [])
    gate.definition = inner
    outer = QuantumCircuit(2)
    outer.append(gate, [0, 1])
    with pytest.raises(InvalidArgument, match=r"in the definition of 'pair': instruction 0 \('cx'\)"):
        check_structure(outer)


@pytest.mark.parametrize("source", [CONST_DESIGNATOR, NO_VERSION], ids=["const-designator", "no-version"])
def test_a_native_parser_panic_is_a_decline_not_a_crash(source: str) -> None:
    # Both made qiskit's native parser raise pyo3_runtime.PanicException (a BaseException).
    error = refused(source)
    assert "OpenQASM 3 parse error" in error.message


def test_exponential_gate_definitions_are_refused_before_they_are_expanded() -> None:
    started = time.perf_counter()
    error = refused(nested_gates(24))  # 8 million operations
    assert time.perf_counter() - started < 1.0
    assert f"more than {MAX_CONVERTED_OPERATIONS:,} operations" in error.message


def test_moderately_nested_gate_definitions_still_parse() -> None:
    assert parse_and_check(nested_gates(6), "qasm3").circuit.num_qubits == 1


def test_a_loop_is_counted_unrolled() -> None:
    source = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[1] q;\nfor int i in [0:2000000] { h q[0]; }\n'
    assert "more than 1,000,000 operations" in refused(source).message


@pytest.mark.parametrize(
    "source",
    ["OPENQASM 3.0;\nqubit[4_000_000] q;\n", "OPENQASM 3.0;\nqubit[0xF4240] q;\n", "qreg q//\n[4000000];\n"],
    ids=["underscores", "hex", "comment"],
)
def test_a_huge_register_is_refused_before_it_is_allocated(source: str) -> None:
    started = time.perf_counter()
    error = refused(source)
    assert time.perf_counter() - started < 0.5
    assert "larger than the limit" in error.message


def test_a_long_include_name_is_quoted_short() -> None:
    error = refused('OPENQASM 3.0;\ninclude "' + "a" * 5000 + '";\n')
    assert "is not allowed" in error.message and "(5000 chars)" in error.message
    assert len(error.message) < 250


def test_a_transpiler_panic_is_a_compilation_failure() -> None:
    """A circuit with a repeated operand that got past the checks makes qiskit's transpiler
    panic (pyo3_runtime.PanicException); the compile fails, the thread lives on."""
    circuit = QuantumCircuit(2, 2)
    circuit._append(CircuitInstruction(CXGate(), (circuit.qubits[0], circuit.qubits[0])))
    circuit.measure([0, 1], [0, 1])

    class Unchecked:
        def parse(
            self,
            source: str,
            language: ProgramLanguage | str,
            entrypoint: str,
            device: DeviceInfo | None = None,
        ) -> ParsedProgram:
            return ParsedProgram(circuit, ProgramLanguage.QASM3)

        def warm_up(self) -> None: ...

        def close(self) -> None: ...

    service = CompilationService(parser=Unchecked())
    with pytest.raises(CompilationFailed, match="transpiler"):
        service.compile(CompileRequest("anything", ProgramLanguage.QASM3, DEVICE))


class CountingParser:
    def __init__(self) -> None:
        self.calls = 0

    def parse(
        self, source: str, language: ProgramLanguage | str, entrypoint: str, device: DeviceInfo | None = None
    ) -> ParsedProgram:
        self.calls += 1
        return parse_and_check(source, language, entrypoint, device)

    def warm_up(self) -> None: ...

    def close(self) -> None: ...


def test_validated_is_a_lookup_that_never_parses() -> None:
    parser = CountingParser()
    service = CompilationService(parser=parser)
    request = CompileRequest(BELL, ProgramLanguage.QASM3, DEVICE)
    assert service.validated(request) is None
    assert parser.calls == 0
    checked = service.validate(request)
    assert service.validated(request) is checked
    assert service.validated(CompileRequest("", ProgramLanguage.QASM3, DEVICE)) is None
    assert parser.calls == 1


def test_compile_after_validate_parses_once() -> None:
    parser = CountingParser()
    service = CompilationService(parser=parser)
    request = CompileRequest(BELL, ProgramLanguage.QASM3, DEVICE)
    service.validate(request)
    compiled = service.compile(request)
    service.optimize(request)
    assert parser.calls == 1
    assert compiled.num_qubits == 2


def test_measurements_added_for_one_request_do_not_leak_into_the_parse_cache() -> None:
    service = CompilationService(parser=CountingParser())
    unmeasured = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\n'
    first = service.validate(CompileRequest(unmeasured, ProgramLanguage.QASM3, DEVICE))
    again = service.compile(CompileRequest(unmeasured, ProgramLanguage.QASM3, DEVICE))
    assert first.report["measurements_added"] and again.report["measurements_added"]
    assert again.source_circuit.count_ops().get("measure") == 2


def test_every_refusal_is_an_eigen_error() -> None:
    for source in (REPEATED, CONST_DESIGNATOR, NO_VERSION, "OPENQASM 3.0;\n}}}", nested_gates(30)):
        with pytest.raises(EigenError):
            CompilationService().validate(CompileRequest(source, ProgramLanguage.QASM3, DEVICE))
