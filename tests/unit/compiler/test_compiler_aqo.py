"""AQO JSON: canonical form, round trip, fingerprints, errors naming the instruction."""

from __future__ import annotations

import json
import math

import pytest
from qiskit.circuit import Parameter, ParameterVector, QuantumCircuit
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import Operator

from eigen.compiler.aqo import AQO_FORMAT, canonical_json, fingerprint, from_aqo, to_aqo
from eigen.compiler.expressions import parse_expression
from eigen.errors import InvalidArgument


def bell() -> QuantumCircuit:
    circuit = QuantumCircuit(2, 2)
    circuit.h(0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    return circuit


def instructions(circuit: QuantumCircuit) -> list[tuple[str, list[int], list[int], list[str]]]:
    return [
        (
            item.operation.name,
            [circuit.find_bit(q).index for q in item.qubits],
            [circuit.find_bit(c).index for c in item.clbits],
            [str(p) for p in item.operation.params],
        )
        for item in circuit.data
    ]


def test_bell_document_shape() -> None:
    document = json.loads(to_aqo(bell()))
    assert document["format"] == AQO_FORMAT
    assert document["num_qubits"] == 2
    assert document["num_clbits"] == 2
    assert document["parameters"] == []
    assert document["instructions"][0] == {"op": "h", "qubits": [0], "clbits": [], "params": []}
    assert document["instructions"][2] == {
        "op": "measure",
        "qubits": [0],
        "clbits": [0],
        "params": [],
    }


def test_output_is_canonical_sorted_compact_json() -> None:
    text = to_aqo(bell())
    assert text == canonical_json(json.loads(text))
    assert text.startswith('{"format":"eigen.aqo/v1","instructions":[{"clbits":[],"op":"h"')
    assert ", " not in text and ": " not in text


def test_round_trip_preserves_instruction_list() -> None:
    circuit = bell()
    circuit.barrier()
    circuit.reset(1)
    circuit.delay(100, 0, unit="dt")
    back = from_aqo(to_aqo(circuit))
    assert instructions(back) == instructions(circuit)
    assert to_aqo(back) == to_aqo(circuit)


def test_round_trip_of_every_standard_gate_preserves_the_operator() -> None:
    mapping = get_standard_gate_name_mapping()
    skip = {"measure", "reset", "delay", "barrier"}
    circuit = QuantumCircuit(4)
    for index, (name, gate) in enumerate(sorted(mapping.items())):
        if name in skip:
            continue
        params = [0.1 * (index + k + 1) for k in range(len(gate.params))]
        circuit.append(gate.base_class(*params), list(range(gate.num_qubits)))
    circuit.global_phase = 0.25
    back = from_aqo(to_aqo(circuit))
    assert Operator(back).equiv(Operator(circuit))
    assert Operator(back) == Operator(circuit)  # global phase kept too


def test_parameter_expressions_round_trip() -> None:
    theta, phi = Parameter("theta"), Parameter("phi")
    vector = ParameterVector("x", 2)
    circuit = QuantumCircuit(2)
    circuit.rz(2 * theta + 1, 0)
    circuit.rx((theta + phi).sin(), 1)
    circuit.ry(-phi / 3 + theta**2, 0)
    circuit.u(vector[0], vector[1] * math.pi, theta.exp(), 1)
    text = to_aqo(circuit)
    assert json.loads(text)["parameters"] == ["phi", "theta", "x[0]", "x[1]"]
    back = from_aqo(text)
    values = {"theta": 0.3, "phi": -1.2, "x[0]": 0.7, "x[1]": 0.4}
    bound = circuit.assign_parameters({p: values[p.name] for p in circuit.parameters})
    bound_back = back.assign_parameters({p: values[p.name] for p in back.parameters})
    assert Operator(bound_back).equiv(Operator(bound))


def test_fingerprint_is_stable_and_ignores_key_order_and_whitespace() -> None:
    text = to_aqo(bell())
    shuffled = json.dumps(json.loads(text), indent=2, sort_keys=False)
    reordered = json.dumps(dict(reversed(list(json.loads(text).items()))))
    assert fingerprint(text) == fingerprint(shuffled) == fingerprint(reordered)
    assert fingerprint(text) == fingerprint(text, canonical=True)
    assert len(fingerprint(text)) == 64
    other = bell()
    other.x(0)
    assert fingerprint(to_aqo(other)) != fingerprint(text)


def test_unknown_op_names_the_instruction_index() -> None:
    document = json.loads(to_aqo(bell()))
    document["instructions"][1]["op"] = "frobnicate"
    with pytest.raises(InvalidArgument) as info:
        from_aqo(json.dumps(document))
    assert "instruction 1" in info.value.message
    assert "frobnicate" in info.value.message
    assert info.value.violations[0].field == "program"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(format="other/v9"), "'format'"),
        (lambda d: d.update(num_qubits=-1), "num_qubits"),
        (lambda d: d["instructions"][0].update(qubits=[5]), "instruction 0"),
        (lambda d: d["instructions"][1].update(qubits=[0]), "instruction 1"),
        (lambda d: d["instructions"][0].update(params=[1.0]), "expects 0 params"),
        (lambda d: d["instructions"][0].update(op="rz", params=["nope"]), "not declared"),
        (lambda d: d["instructions"][0].update(op="rz", params=["__import__('os')"]), "rz"),
    ],
)
def test_invalid_documents_are_rejected(mutate: object, fragment: str) -> None:
    document = json.loads(to_aqo(bell()))
    mutate(document)  # type: ignore[operator]
    with pytest.raises(InvalidArgument) as info:
        from_aqo(json.dumps(document))
    assert fragment in info.value.message


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"format": 1'])
def test_non_documents_are_rejected(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        from_aqo(text)
    assert info.value.message.startswith("program: ")


def test_expression_parser_is_safe_and_bounded() -> None:
    theta = Parameter("theta")
    assert parse_expression("2*pi", {}) == pytest.approx(2 * math.pi)
    value = parse_expression("cos(theta)", {"theta": theta})
    assert float(value.bind({theta: 0.0})) == pytest.approx(1.0)  # type: ignore[union-attr]
    for bad in ["9**9**9", "theta.__class__", "open('x')", "[1]", "1 if 1 else 2"]:
        with pytest.raises(InvalidArgument):
            parse_expression(bad, {"theta": theta})
    with pytest.raises(InvalidArgument) as refused:
        parse_expression("theta[1:2]", {"theta": theta})
    assert "theta[1:2]" in refused.value.message and "Subscript" not in refused.value.message
