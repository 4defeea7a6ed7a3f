"""The program sandbox: parses in worker processes, within time and memory limits, silently."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from poison_programs import BELL, CONST_DESIGNATOR, NO_VERSION, REPEATED, SYNTAX_ERROR, nested_gates

from eigen.compiler.sandbox import ProgramSandbox
from eigen.errors import InvalidArgument
from eigen.models.target import DeviceInfo


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ProgramSandbox]:
    started = ProgramSandbox(time_limit_s=1.0, memory_limit_mib=200)
    try:
        started.warm_up()
        yield started
    finally:
        started.close()


def refusal(sandbox: ProgramSandbox, source: str) -> str:
    with pytest.raises(InvalidArgument) as caught:
        sandbox.parse(source, "qasm3", "main")
    assert [v.field for v in caught.value.violations] == ["program"]
    return caught.value.message


def test_a_program_parses_to_its_circuit(sandbox: ProgramSandbox) -> None:
    parsed = sandbox.parse(BELL, "qasm3", "main")
    assert parsed.circuit.num_qubits == 2
    assert parsed.circuit.count_ops() == {"h": 1, "cx": 1, "measure": 2}


def test_errors_come_back_with_their_field(sandbox: ProgramSandbox) -> None:
    assert "repeated operand, qubit q[0]" in refusal(sandbox, REPEATED)
    assert "OpenQASM 3 parse error" in refusal(sandbox, CONST_DESIGNATOR)
    assert "OpenQASM 3 parse error" in refusal(sandbox, NO_VERSION)


def test_parser_output_never_reaches_the_server(
    sandbox: ProgramSandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    # The native parser prints diagnostics (with the program) to stdout, panics to stderr.
    for source in (SYNTAX_ERROR, CONST_DESIGNATOR, NO_VERSION):
        refusal(sandbox, source)
    out, err = capfd.readouterr()
    assert out == ""
    assert "panicked" not in err and "cx q[0] q[1]" not in err


def test_a_parse_past_the_time_limit_is_refused_and_the_worker_replaced(sandbox: ProgramSandbox) -> None:
    assert "took more than 1 s" in refusal(sandbox, nested_gates(15))
    assert sandbox.parse(BELL, "qasm3", "main").circuit.num_qubits == 2


def test_a_parse_past_the_memory_limit_is_refused() -> None:
    roomy_in_time = ProgramSandbox(time_limit_s=60.0, memory_limit_mib=64)
    try:
        message = refusal(roomy_in_time, "OPENQASM 3.0;\nqubit[2048 * 2048] q;\n")  # no literal check sees it
        assert "more than 64 MiB" in message
        assert roomy_in_time.parse(BELL, "qasm3", "main").circuit.num_qubits == 2
    finally:
        roomy_in_time.close()


def test_a_circuit_wider_than_the_device_is_refused_in_the_worker(sandbox: ProgramSandbox) -> None:
    """Its pickle grows with its width: a 40,000-qubit answer cost the server ~360 ms of GIL
    to unpickle before the width check refused it."""
    device = DeviceInfo("sim:statevector", 28, ("rz", "sx", "x", "cx"))
    with pytest.raises(InvalidArgument, match="40000 qubits but sim:statevector has 28"):
        sandbox.parse("OPENQASM 3.0;\nqubit[40000] q;\n", "qasm3", "main", device)
    wide = "OPENQASM 3.0;\nqubit[100] q;\n"  # refused for the device only
    with pytest.raises(InvalidArgument, match="100 qubits but sim:statevector has 28"):
        sandbox.parse(wide, "qasm3", "main", device)
    assert sandbox.parse(wide, "qasm3", "main").circuit.num_qubits == 100
