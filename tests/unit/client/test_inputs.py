"""What submit accepts: circuits, program text, job.yaml and program paths, requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from eigen.client import InvalidArgument, JobRequest, to_request
from eigen.client.inputs import error_for_item, is_quantum_circuit, resolve_many
from eigen.models.jobspec import parse_jobspec
from eigen.models.program import ProgramLanguage

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BELL3 = (
    'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\n'
    + "c = measure q;\n"
)
GHZ2 = (
    'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n'
)


def test_program_text_with_options() -> None:
    request = to_request(
        BELL3,
        target="sim:stabilizer",
        shots=100,
        seed=3,
        name="bell",
        priority=80,
        labels={"team": "q"},
        optimization_level=2,
        timeout_seconds=9.5,
    )
    assert request.program == BELL3 and request.language is ProgramLanguage.QASM3
    assert (request.target, request.shots, request.seed, request.name) == ("sim:stabilizer", 100, 3, "bell")
    assert (request.priority, request.labels, request.optimization_level) == (80, {"team": "q"}, 2)
    assert request.timeout_seconds == 9.5
    assert to_request(GHZ2).language is ProgramLanguage.QASM2


def test_job_yaml_paths_as_str_and_path_with_overrides() -> None:
    from_path = to_request(EXAMPLES / "bell-qasm3" / "job.yaml")
    assert from_path.name == "bell-pair" and from_path.shots == 1000 and from_path.seed == 42
    assert "OPENQASM" in from_path.program
    overridden = to_request(str(EXAMPLES / "ghz-qasm2" / "job.yaml"), shots=10, target="sim:statevector")
    assert overridden.shots == 10 and overridden.target == "sim:statevector"
    assert overridden.name == "ghz-5" and overridden.priority == 70 and overridden.seed == 7


def test_program_file_path(tmp_path: Path) -> None:
    program = tmp_path / "my circuit.qasm"
    program.write_text(GHZ2)
    request = to_request(program, shots=5)
    assert request.language is ProgramLanguage.QASM2 and request.name == "my-circuit"
    assert to_request(str(program)).program == GHZ2


def test_missing_job_file_names_the_problem() -> None:
    with pytest.raises(InvalidArgument, match="not found"):
        to_request("/nonexistent/job.yaml")


def test_quantum_circuit_is_written_as_qasm3() -> None:
    theta = Parameter("theta")
    circuit = QuantumCircuit(2, 2, name="my bell")
    circuit.ry(theta, 0)
    circuit.cx(0, 1)
    circuit.measure([0, 1], [0, 1])
    assert is_quantum_circuit(circuit) and not is_quantum_circuit(BELL3)
    request = to_request(circuit, parameter_bindings=[{"theta": 0.5}, {"theta": 1.0}], observables="ZZ")
    assert request.language is ProgramLanguage.QASM3
    assert request.program.startswith("OPENQASM 3.0;") and "input float[64] theta;" in request.program
    assert request.name == "my-bell"
    assert request.parameter_bindings == [{"theta": 0.5}, {"theta": 1.0}]
    assert request.observables == [{"ZZ": 1.0}]


def test_job_request_fields_are_overridden_not_mutated() -> None:
    base = JobRequest(program=BELL3, language=ProgramLanguage.QASM3, shots=1)
    request = to_request(base, shots=7, parameter_bindings={"a": 1.0}, observables=[{"ZI": 0.5}, "IZ"])
    assert base.shots == 1 and request.shots == 7
    assert request.parameter_bindings == [{"a": 1.0}]
    assert request.observables == [{"ZI": 0.5}, {"IZ": 1.0}]
    assert to_request(base) == base


def test_aqo_mapping() -> None:
    document = {"num_qubits": 1, "num_clbits": 1, "instructions": [{"name": "h", "qubits": [0]}]}
    request = to_request(document)
    assert request.language is ProgramLanguage.AQO and json.loads(request.program) == document


def test_invalid_values_raise_invalid_argument_naming_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        to_request(BELL3, shots=-1, priority=101)
    assert {v.field for v in caught.value.violations} == {"shots", "priority"}
    with pytest.raises(InvalidArgument):
        to_request(BELL3, language="cobol")
    with pytest.raises(InvalidArgument, match="cannot submit"):
        to_request(12345)
    with pytest.raises(TypeError, match="unknown submit option"):
        to_request(BELL3, shotz=5)


def test_batch_errors_name_the_item() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_many([BELL3, ""], {"shots": 5})
    assert str(caught.value).startswith("jobs[1]: ")
    assert [v.field for v in caught.value.violations] == ["jobs[1].program"]
    again = error_for_item(caught.value, 1)
    assert [v.field for v in again.violations] == ["jobs[1].program"]
    assert caught.value.metadata["index"] == "1"


def test_jobspec_objects_of_both_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = parse_jobspec(
        {
            "apiVersion": "eigen.os/v0.1",
            "kind": "QuantumJob",
            "metadata": {"name": "legacy-bell"},
            "spec": {"target": "sim:stabilizer", "program": BELL3, "metadata": {"shots": "64"}},
        }
    )
    request = to_request(legacy, seed=9)
    assert (request.name, request.target, request.shots, request.seed) == (
        "legacy-bell",
        "sim:stabilizer",
        64,
        9,
    )
    assert request.program == BELL3 and request.language is ProgramLanguage.QASM3

    (tmp_path / "ghz.qasm").write_text(GHZ2)
    by_path = parse_jobspec(
        {
            "apiVersion": "eigen.os/v1",
            "kind": "QuantumJob",
            "metadata": {"name": "ghz"},
            "spec": {"target": "sim:statevector", "program": {"path": "ghz.qasm"}},
        }
    )
    monkeypatch.chdir(tmp_path)  # a path in a JobSpec object is relative to the current folder
    assert to_request(by_path).program == GHZ2
    escaping = by_path.model_copy(deep=True)
    escaping.spec.program.path = "../ghz.qasm"
    with pytest.raises(InvalidArgument) as caught:
        to_request(escaping)
    assert caught.value.violations[0].field == "spec.program.path"
