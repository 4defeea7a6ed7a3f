"""CompilationService: validate, compile, optimize, checks, artifacts, result cache."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
import qiskit.qasm3
from qiskit.circuit import Parameter, QuantumCircuit

import eigen.lang
from eigen.compiler import CompilationService, fingerprint, from_aqo
from eigen.compiler.passes import PassManagerCache
from eigen.errors import CompilationFailed, InvalidArgument
from eigen.kernel.ports import CompilerPort
from eigen.models.compiled import CompiledProgram, CompileRequest, HybridSpec
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo

STATEVECTOR = DeviceInfo("sim:statevector", 28, ("rz", "sx", "x", "cx"))
LINE = DeviceInfo("emu:line3", 3, ("rz", "sx", "x", "cx"), coupling_map=((0, 1), (1, 2)))
STABILIZER = DeviceInfo(
    "sim:stabilizer",
    64,
    ("h", "s", "sdg", "x", "y", "z", "cx", "cz", "swap"),
    clifford_only=True,
)

BELL = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""
GHZ5 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[5];\ncreg c[5];\nh q[0];\n'
    + "".join(f"cx q[{i}],q[{i + 1}];\n" for i in range(4))
    + "measure q -> c;\n"
)
UNMEASURED = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[3] q;\nh q[0];\ncx q[0], q[2];\n'


@pytest.fixture
def service() -> CompilationService:
    return CompilationService(pass_managers=PassManagerCache())


def request(program: str, language: ProgramLanguage, device: DeviceInfo, **kw: Any) -> CompileRequest:
    return CompileRequest(program=program, language=language, device=device, **kw)


def test_satisfies_the_compiler_port(service: CompilationService) -> None:
    port: CompilerPort = service
    assert callable(port.validate) and callable(port.compile) and callable(port.optimize)


def test_bell_qasm3_compiles(service: CompilationService) -> None:
    compiled = service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR))
    assert isinstance(compiled, CompiledProgram)
    assert compiled.device == "sim:statevector"
    assert (compiled.num_qubits, compiled.num_clbits) == (2, 2)
    assert compiled.parameters == []
    assert set(compiled.circuit.count_ops()) <= {"rz", "sx", "x", "cx", "measure"}
    assert compiled.source_circuit.count_ops()["h"] == 1
    assert compiled.report["optimization_level"] == 1


def test_ghz_qasm2_compiles_on_a_line(service: CompilationService) -> None:
    five_line = DeviceInfo(
        "emu:line5", 5, ("rz", "sx", "x", "cx"), coupling_map=tuple((i, i + 1) for i in range(4))
    )
    compiled = service.compile(request(GHZ5, ProgramLanguage.QASM2, five_line))
    assert compiled.num_qubits == 5
    assert compiled.source_circuit.count_ops()["cx"] == 4
    assert compiled.report["layout"] is not None and len(compiled.report["layout"]) == 5


def test_report_has_before_and_after(service: CompilationService) -> None:
    report = service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR)).report
    assert report["before"]["gate_counts"] == {"h": 1, "cx": 1, "measure": 2}
    assert report["before"]["two_qubit_gates"] == 1
    assert "h" not in report["after"]["gate_counts"]
    assert report["after"]["two_qubit_gates"] == 1
    for side in ("before", "after"):
        assert {"depth", "size", "gate_counts", "two_qubit_gates"} <= set(report[side])
    assert report["device"] == "sim:statevector"
    assert report["duration_ms"] >= 0
    assert report["measurements_added"] is False
    json.dumps(report)  # JSON-ready


def test_artifacts_are_filled_and_consistent(service: CompilationService) -> None:
    compiled = service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR))
    assert compiled.qasm3.startswith("OPENQASM 3.0;")
    reparsed = qiskit.qasm3.loads(compiled.qasm3)
    assert reparsed.count_ops() == compiled.circuit.count_ops()
    assert compiled.report["aqo_fingerprint"] == fingerprint(compiled.aqo_json)
    assert from_aqo(compiled.aqo_json).count_ops() == compiled.circuit.count_ops()


def test_width_above_the_device_is_rejected(service: CompilationService) -> None:
    wide = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[30] q;\nh q[0];\n'
    with pytest.raises(InvalidArgument) as info:
        service.compile(request(wide, ProgramLanguage.QASM3, STATEVECTOR))
    assert info.value.violations[0].field == "program"
    assert "circuit uses 30 qubits but sim:statevector has 28" in info.value.message


def test_zero_qubits_is_rejected(service: CompilationService) -> None:
    with pytest.raises(InvalidArgument, match="no qubits"):
        service.validate(request("OPENQASM 3.0;\n", ProgramLanguage.QASM3, STATEVECTOR))


@pytest.mark.parametrize("program", ["", "garbage!", "\x00\x00\x01"])
def test_bad_programs_are_invalid_arguments(service: CompilationService, program: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        service.compile(request(program, ProgramLanguage.QASM3, STATEVECTOR))
    assert info.value.message.startswith("program: ")


def test_measure_all_added_when_missing(service: CompilationService) -> None:
    compiled = service.compile(request(UNMEASURED, ProgramLanguage.QASM3, STATEVECTOR))
    assert compiled.report["measurements_added"] is True
    assert compiled.num_clbits == 3
    assert compiled.source_circuit.count_ops()["measure"] == 3
    assert compiled.circuit.count_ops()["measure"] == 3


def test_t_gate_rejected_on_a_clifford_only_device(service: CompilationService) -> None:
    program = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nh q[0];\nt q[1];\n'
    for call in (service.validate, service.compile):
        with pytest.raises(InvalidArgument) as info:
            call(request(program, ProgramLanguage.QASM3, STABILIZER))
        assert "'t'" in info.value.message
        assert "sim:stabilizer" in info.value.message


def test_clifford_rotations_compile_on_a_clifford_only_device(service: CompilationService) -> None:
    program = (
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\n'
        "h q[0];\nsx q[1];\nrz(pi/2) q[0];\ncy q[0], q[1];\n"
    )
    compiled = service.compile(request(program, ProgramLanguage.QASM3, STABILIZER))
    assert set(compiled.circuit.count_ops()) <= set(STABILIZER.basis_gates) | {"measure", "barrier"}
    assert compiled.source_circuit.count_ops()["rz"] == 1


def test_gate_definitions_and_inputs_compile(service: CompilationService) -> None:
    program = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
gate entangle a, b { h a; cx a, b; }
qubit[2] q;
bit[2] c;
entangle q[0], q[1];
rz(theta) q[1];
c = measure q;
"""
    compiled = service.compile(request(program, ProgramLanguage.QASM3, STATEVECTOR))
    assert compiled.parameters == ["theta"]
    assert "entangle" not in compiled.circuit.count_ops()
    assert compiled.circuit.assign_parameters({"theta": 0.5}).num_parameters == 0


def test_validate_returns_the_logical_circuit(service: CompilationService) -> None:
    validated = service.validate(request(BELL, ProgramLanguage.QASM3, STATEVECTOR))
    assert validated.circuit is validated.source_circuit
    assert validated.circuit.count_ops()["h"] == 1
    assert "after" not in validated.report
    assert validated.qasm3 == ""


def test_optimize_defaults_to_level_three(service: CompilationService) -> None:
    optimized = service.optimize(request(BELL, ProgramLanguage.QASM3, LINE))
    assert optimized.report["optimization_level"] == 3
    explicit = service.optimize(request(BELL, ProgramLanguage.QASM3, LINE, optimization_level=0))
    assert explicit.report["optimization_level"] == 0


def test_invalid_level_is_rejected(service: CompilationService) -> None:
    with pytest.raises(InvalidArgument) as info:
        service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR, optimization_level=7))
    assert info.value.violations[0].field == "optimization_level"


def test_result_cache_returns_the_same_program(service: CompilationService) -> None:
    first = service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR))
    assert service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR)) is first
    assert service.compile(request(BELL, ProgramLanguage.QASM3, LINE)) is not first
    level2 = request(BELL, ProgramLanguage.QASM3, STATEVECTOR, optimization_level=2)
    assert service.compile(level2) is not first
    assert service.cache_info()["hits"] == 1
    service.clear_cache()
    assert service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR)) is not first


def test_cached_is_a_compile_without_the_work(service: CompilationService) -> None:
    bell = request(BELL, ProgramLanguage.QASM3, STATEVECTOR)
    assert service.cached(bell) is None
    first = service.compile(bell)
    assert service.cached(bell) is first
    assert service.cached(request(BELL, ProgramLanguage.QASM3, STATEVECTOR, optimization_level=2)) is None
    assert service.cached(request(BELL, ProgramLanguage.QASM3, LINE)) is None
    assert service.cache_info()["hits"] == 0 and service.cache_info()["misses"] == 1  # looks are not counted


def test_result_cache_can_be_disabled() -> None:
    service = CompilationService(cache_size=0, pass_managers=PassManagerCache())
    first = service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR))
    assert service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR)) is not first


def test_aqo_programs_compile(service: CompilationService) -> None:
    aqo = service.compile(request(BELL, ProgramLanguage.QASM3, STATEVECTOR)).aqo_json
    compiled = service.compile(request(aqo, ProgramLanguage.AQO, LINE))
    assert compiled.num_qubits == 2


def test_transpile_failure_is_compilation_failed(service: CompilationService) -> None:
    odd = DeviceInfo("odd", 4, ("h",))
    with pytest.raises(CompilationFailed):
        service.compile(request(BELL, ProgramLanguage.QASM3, odd))


def fake_lang_program(hybrid: bool) -> SimpleNamespace:
    theta = Parameter("theta")
    circuit = QuantumCircuit(2)
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    if not hybrid:
        circuit.measure_all()
    spec = HybridSpec(observables={"e": [("ZZ", 1.0)]}, objective="e") if hybrid else None
    return SimpleNamespace(
        circuit=circuit, defaults={"theta": 0.25}, hybrid=spec, entrypoint="main", decorator={}
    )


@pytest.mark.parametrize("hybrid", [False, True])
def test_eigen_lang_branch_uses_read_program(
    service: CompilationService, monkeypatch: pytest.MonkeyPatch, hybrid: bool
) -> None:
    calls: list[tuple[str, str]] = []

    def read_program(source: str, entrypoint: str = "main") -> SimpleNamespace:
        calls.append((source, entrypoint))
        return fake_lang_program(hybrid)

    monkeypatch.setattr(eigen.lang, "read_program", read_program, raising=False)
    compiled = service.compile(
        request("program text", ProgramLanguage.EIGEN_LANG, STATEVECTOR, entrypoint="vqe")
    )
    assert calls == [("program text", "vqe")]
    assert compiled.defaults == {"theta": 0.25}
    assert compiled.parameters == ["theta"]
    assert (compiled.hybrid is not None) is hybrid
    assert ("measure" in compiled.circuit.count_ops()) is not hybrid
    assert compiled.report["measurements_added"] is False


REAL_LANG_PROGRAM = """from eigen_lang import Param, hybrid_program, ry, cx

@hybrid_program
def main():
    theta = Param("theta", default=0.5)
    ry(0, theta)
    cx(0, 1)
"""


@pytest.mark.skipif(not hasattr(eigen.lang, "read_program"), reason="eigen.lang not landed")
def test_real_eigen_lang_program_compiles(service: CompilationService) -> None:
    compiled = service.compile(request(REAL_LANG_PROGRAM, ProgramLanguage.EIGEN_LANG, STATEVECTOR))
    assert compiled.parameters == ["theta"]
    assert compiled.defaults == {"theta": 0.5}
    assert compiled.hybrid is None
    assert "measure" in compiled.circuit.count_ops()


def test_concurrent_compiles_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    service = CompilationService(cache_size=0, pass_managers=PassManagerCache())

    def compile_once(_: int) -> dict[str, int]:
        return dict(service.compile(request(GHZ5, ProgramLanguage.QASM2, LINE5)).circuit.count_ops())

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(compile_once, range(16)))
    assert all(result == results[0] for result in results)


LINE5 = DeviceInfo("emu:line5", 5, ("rz", "sx", "x", "cx"), coupling_map=tuple((i, i + 1) for i in range(4)))


def test_language_aliases_and_unknown_languages(service: CompilationService) -> None:
    alias = request(GHZ5, "openqasm2", STATEVECTOR)  # type: ignore[arg-type]
    assert service.compile(alias).num_qubits == 5
    with pytest.raises(InvalidArgument, match="unknown program language"):
        service.compile(request(GHZ5, "cobol", STATEVECTOR))  # type: ignore[arg-type]


def test_result_cache_keys_on_the_eigen_lang_entrypoint(
    service: CompilationService, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    def read_program(source: str, entrypoint: str = "main") -> SimpleNamespace:
        seen.append(entrypoint)
        return fake_lang_program(hybrid=False)

    monkeypatch.setattr(eigen.lang, "read_program", read_program, raising=False)
    for entrypoint in ("a", "b", "a"):
        service.compile(request("same text", "python", STATEVECTOR, entrypoint=entrypoint))  # type: ignore[arg-type]
    assert seen == ["a", "b"]
