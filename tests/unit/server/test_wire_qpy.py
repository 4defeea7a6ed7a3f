"""QPY decoding at the internal edges: nothing qiskit raises escapes as itself."""

from __future__ import annotations

import pytest
from qiskit import QuantumCircuit

from eigen.errors import InternalError, InvalidArgument
from eigen.kernel import compiled_codec
from eigen.server import wire


class Panic(BaseException):
    """What a pyo3 panic in qiskit's Rust parts looks like from Python."""


def test_a_panic_while_decoding_is_the_callers_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def panics(_: object) -> list[QuantumCircuit]:
        raise Panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(compiled_codec.qpy, "load", panics)
    with pytest.raises(InvalidArgument) as caught:
        wire.circuit_from_qpy(b"QISKIT...", "circuit_qpy")
    assert [v.field for v in caught.value.violations] == ["circuit_qpy"]
    assert "Panic" in caught.value.message
    with pytest.raises(InternalError):  # in a service's answer: not the caller's fault
        wire.circuit_from_qpy(b"QISKIT...")


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_an_interpreter_exit_passes_through(monkeypatch: pytest.MonkeyPatch, stop: type) -> None:
    def stops(_: object) -> list[QuantumCircuit]:
        raise stop()

    monkeypatch.setattr(compiled_codec.qpy, "load", stops)
    with pytest.raises(stop):
        wire.circuit_from_qpy(b"QISKIT...", "circuit_qpy")


def test_a_circuit_round_trips_and_empty_is_refused_in_a_request() -> None:
    circuit = QuantumCircuit(2)
    circuit.h(0)
    assert wire.circuit_from_qpy(wire.circuit_to_qpy(circuit), "circuit_qpy") == circuit
    assert wire.circuit_from_qpy(b"") is None
    with pytest.raises(InvalidArgument):
        wire.circuit_from_qpy(b"", "circuit_qpy")
