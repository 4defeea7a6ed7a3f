"""OpenQASM 2/3 parsing: fast path, fallback, and clear errors on bad input."""

from __future__ import annotations

import pytest
from qiskit.circuit.library import CXGate, HGate

from eigen.compiler.qasm import parse_qasm, parse_qasm2, parse_qasm3, qasm_version
from eigen.compiler.source import check_source
from eigen.errors import InvalidArgument

BELL_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
"""

GHZ_QASM2 = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg c[3];
h q[0];
cx q[0],q[1];
cx q[1],q[2];
u3(0.1,0.2,0.3) q[0];
measure q -> c;
"""

GATE_DEF_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
gate bellpair a, b { h a; cx a, b; }
qubit[2] q;
bit[2] c;
bellpair q[0], q[1];
c = measure q;
"""

INPUT_QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit[1] q;
bit[1] c;
rx(theta) q[0];
c[0] = measure q[0];
"""


def test_bell_qasm3_parses_with_standard_gates() -> None:
    circuit = parse_qasm3(BELL_QASM3)
    assert circuit.num_qubits == 2
    assert circuit.num_clbits == 2
    assert isinstance(circuit.data[0].operation, HGate)
    assert isinstance(circuit.data[1].operation, CXGate)
    assert circuit.count_ops()["measure"] == 2


def test_ghz_qasm2_maps_qelib1_to_standard_gates() -> None:
    circuit = parse_qasm2(GHZ_QASM2)
    assert circuit.num_qubits == 3
    assert dict(circuit.count_ops()) == {"h": 1, "cx": 2, "u3": 1, "measure": 3}
    assert type(circuit.data[3].operation).__name__ == "U3Gate"


def test_gate_definition_uses_the_fallback_importer() -> None:
    circuit = parse_qasm3(GATE_DEF_QASM3)
    assert circuit.num_qubits == 2
    assert "bellpair" in circuit.count_ops()


def test_input_parameter_uses_the_fallback_importer() -> None:
    circuit = parse_qasm3(INPUT_QASM3)
    assert [p.name for p in circuit.parameters] == ["theta"]


def test_header_version_wins_over_the_declared_language() -> None:
    assert qasm_version(GHZ_QASM2) == 2
    assert qasm_version("// comment\n/* block */ OPENQASM 3.0;") == 3
    assert qasm_version("qubit q;") is None
    assert parse_qasm(GHZ_QASM2, default_version=3).num_qubits == 3
    assert parse_qasm(BELL_QASM3, default_version=2).num_qubits == 2


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("", "is empty"),
        ("   \n\t  \n", "is empty"),
        ("\x00\x01\x02binary\xff", "binary"),
        ("OPENQASM 3.0;\nqubit q;\n\ufffd\ufffd", "binary"),
    ],
)
def test_empty_and_binary_input_are_rejected(source: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check_source(source)
    assert info.value.message.startswith("program: ")
    assert fragment in info.value.message
    assert info.value.violations[0].field == "program"


def test_garbage_qasm3_names_the_program_and_the_line() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_qasm3("this is not qasm at all")
    message = info.value.message
    assert message.startswith("program: OpenQASM 3 parse error: line 1")
    assert info.value.violations[0].field == "program"


def test_undefined_gate_reports_line_and_column() -> None:
    source = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nfoo q[0];\n'
    with pytest.raises(InvalidArgument) as info:
        parse_qasm3(source)
    assert "line 4, column 1" in info.value.message
    assert "foo" in info.value.message


def test_qasm3_syntax_error_points_at_the_token() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_qasm3("OPENQASM 3.0;\nqubit[2] q;\nh q[0]];\n")
    assert "line 3, column 7" in info.value.message


def test_garbage_qasm2_reports_line() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_qasm2('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nbogus q[0];\n')
    assert info.value.message.startswith("program: OpenQASM 2 parse error: line 4, column 1")


@pytest.mark.parametrize("version", [2, 3])
def test_file_includes_are_refused(version: int) -> None:
    source = f'OPENQASM {version}.0;\ninclude "/etc/passwd";\n'
    with pytest.raises(InvalidArgument) as info:
        parse_qasm(source)
    assert "include '/etc/passwd' is not allowed" in info.value.message


def test_huge_registers_are_refused_before_parsing() -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_qasm3("OPENQASM 3.0;\nqubit[1000000000] q;\n")
    assert "larger than the limit" in info.value.message


def test_unsupported_version() -> None:
    with pytest.raises(InvalidArgument, match="unsupported OpenQASM version 4"):
        parse_qasm("OPENQASM 4.0;\nqubit q;")
