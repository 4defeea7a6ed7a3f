"""A compiled Eigen-Lang program crosses the compiler's gRPC edge whole: its return value
(JSON types kept), whether it has anything to run, and its decorator settings."""

from __future__ import annotations

from eigen.compiler.service import CompilationService
from eigen.models.compiled import CompileRequest
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo
from eigen.server.wire import compiled_from_pb, compiled_to_pb

DEVICE = DeviceInfo(name="sim:test", num_qubits=4, basis_gates=("rz", "sx", "x", "cx", "measure"))


def compiled(source: str):  # type: ignore[no-untyped-def]
    request = CompileRequest(program=source, language=ProgramLanguage.EIGEN_LANG, device=DEVICE)
    return CompilationService().compile(request)


def test_returns_empty_and_decorator_survive_the_wire() -> None:
    program = compiled(
        "from eigen_lang import *\n"
        "@hybrid_program(shots=7, seed=3)\n"
        "def main():\n"
        "    q = QubitRegister(2)\n"
        "    return {'qubits': q.size, 'label': 'x', 'pair': [1, 2.5]}\n"
    )
    back = compiled_from_pb(compiled_to_pb(program))
    assert back.empty is program.empty is True
    assert back.decorator == {"shots": 7, "seed": 3}
    assert isinstance(back.decorator["shots"], int)
    assert back.returns is not None and program.returns is not None
    assert back.returns.to_json() == program.returns.to_json()


def test_a_program_with_gates_and_no_return_has_none() -> None:
    program = compiled("from eigen_lang import *\n@hybrid_program\ndef main():\n    h(0)\n")
    back = compiled_from_pb(compiled_to_pb(program))
    assert back.empty is False
    assert back.returns is None
    assert back.decorator == {}
