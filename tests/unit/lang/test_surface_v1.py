"""The whole Eigen-Lang surface (EIGEN-LANG.md): attributes a return may read, returns that
are not dicts, programs with no gates, the measure-all default and the decorator's
settings, read by the AST reader and carried through the compiler."""

from __future__ import annotations

import pytest
from lang_helpers import error_line, marked_line, program, read, rejected
from qiskit.circuit import QuantumCircuit

from eigen.compiler.service import CompilationService
from eigen.errors import InvalidArgument
from eigen.lang import read_program
from eigen.models.compiled import CompileRequest, ProgramReturns, ReturnRef
from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo

DEVICE = DeviceInfo("sim:test", 8, ("rz", "sx", "x", "cx"))

VQE = """
q = QubitRegister(2)
c = ClassicalRegister(2)
H = Observable(Z=0, X=1)
theta = Param("theta", 0.1)
phi = Param("phi")
ry(q[0], theta)
ry(q[1], phi)
cx(0, 1)
energy = ExpectationValue("energy", observable=H)
opt = minimize(energy, [0.1, 0.2], method="COBYLA", max_iters=20)
"""


def returns_of(body: str, decorator: str = "@hybrid_program") -> ProgramReturns:
    returned = read_program(program(body, decorator)).returns
    assert returned is not None
    return returned


def test_every_attribute_a_return_may_read() -> None:
    returned = returns_of(
        VQE
        + """
return {
    "terms": H.terms,
    "qubits": q.size,
    "bits": c.size,
    "energy": opt.fun,
    "parameters": opt.x,
    "method": opt.method,
    "objective": opt.objective,
    "metadata": opt.metadata,
    "theta": theta,
    "name": theta.name,
    "default": theta.default,
    "value": energy,
}
"""
    )
    assert returned.key == "returns"
    assert returned.value == {
        "terms": [["IZ", 1.0], ["XI", 1.0]],  # Qiskit order, as wide as the circuit
        "qubits": 2,
        "bits": 2,
        "energy": ReturnRef("fun"),
        "parameters": ReturnRef("x"),
        "method": ReturnRef("method"),
        "objective": ReturnRef("objective"),
        "metadata": ReturnRef("metadata"),
        "theta": ReturnRef("param:theta"),
        "name": "theta",
        "default": 0.1,
        "value": ReturnRef("expectation:energy"),
    }
    assert isinstance(returned.value["qubits"], int)


def test_weighted_observable_terms_keep_their_weights_and_order() -> None:
    returned = returns_of(
        """
H = Observable({"ZZ": -1.05, "XI": 0.39})
G = Observable([("ZZ", 0.5), ("XI", 0.25), ("ZZ", 0.5)])
h(0)
cx(0, 1)
return {"h": H.terms, "g": G.terms, "same": H}
"""
    )
    assert returned.value == {
        "h": [["ZZ", -1.05], ["XI", 0.39]],
        "g": [["ZZ", 0.5], ["XI", 0.25], ["ZZ", 0.5]],  # as written: nothing merged
        "same": [["ZZ", -1.05], ["XI", 0.39]],
    }


def test_shorthand_terms_widen_to_the_circuit_known_only_at_the_end() -> None:
    returned = returns_of('H = Observable(Z=[0, 1])\nreturn {"h": H.terms}')
    assert returned.value == {"h": [["ZZ", 1.0]]}
    wider = returns_of('H = Observable(Z=0)\nx(3)\nreturn {"h": H.terms}')
    assert wider.value == {"h": [["IIIZ", 1.0]]}


@pytest.mark.parametrize(
    ("body", "value"),
    [
        ("return 1", 1),
        ("return -2.5", -2.5),
        ("return 'done'", "done"),
        ("return True", True),
        ("return [1, 'a', [2.0, None]]", [1, "a", [2.0, None]]),
        ("return (1, 2)", [1, 2]),
        ("N = 3\nreturn [N, {'k': [N, 'x']}]", [3, {"k": [3, "x"]}]),
        ("q = QubitRegister(3)\nreturn q.size", 3),
        ("a = Param('a', 0.5)\nreturn a", ReturnRef("param:a")),
        ("H = Observable('XZ')\nreturn H.terms", [["XZ", 1.0]]),
    ],
)
def test_a_return_that_is_not_a_dict_is_the_returned_value(body: str, value: object) -> None:
    returned = returns_of(body)
    assert returned.key == "returned"
    assert returned.value == value
    assert type(returned.value) is type(value)


def test_the_minimal_program_reads_and_has_no_gates() -> None:
    source = "from eigen_lang import hybrid_program\n\n@hybrid_program\ndef main():\n    return 1\n"
    prog = read_program(source)
    assert prog.empty and prog.hybrid is None
    assert prog.returns == ProgramReturns(1)


@pytest.mark.parametrize("body", ["pass", "return {'a': 1}", "N = 2\nreturn N", "'''doc'''"])
def test_programs_without_operations_are_empty(body: str) -> None:
    assert read(body).empty


@pytest.mark.parametrize("body", ["x(0)", "measure(0)", "reset(0)", "measure_all()"])
def test_programs_with_an_operation_are_not_empty(body: str) -> None:
    assert not read(body).empty


def test_return_and_return_none_return_nothing() -> None:
    assert read("h(0)\nreturn").returns is None
    assert read("h(0)\nreturn None").returns is None
    assert read("h(0)").returns is None


def test_without_measurement_every_qubit_is_measured_at_the_end() -> None:
    prog = read("h(0)\ncx(0, 2)")
    circuit: QuantumCircuit = prog.circuit
    assert [reg.name for reg in circuit.cregs] == ["meas"] and circuit.num_clbits == 3
    measured = [inst for inst in circuit.data if inst.operation.name == "measure"]
    assert [circuit.find_bit(inst.qubits[0]).index for inst in measured] == [0, 1, 2]
    assert [circuit.find_bit(inst.clbits[0]).index for inst in measured] == [0, 1, 2]
    last_gate = max(i for i, inst in enumerate(circuit.data) if inst.operation.name == "cx")
    assert all(circuit.data.index(inst) > last_gate for inst in measured)


def test_an_explicit_measurement_turns_the_default_off() -> None:
    prog = read("h(0)\ncx(0, 1)\nmeasure(0)")
    assert [reg.name for reg in prog.circuit.cregs] == ["c"]
    assert sum(inst.operation.name == "measure" for inst in prog.circuit.data) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("q = QubitRegister(2)\nreturn {'q': q}  # HERE", "return its .size"),
        ("c = ClassicalRegister(2)\nreturn c  # HERE", "return its .size"),
        ("a = Param('a')\nreturn {'a': 2 * a}  # HERE", "return the Param itself"),
        ("return {'d': {1: 2}}  # HERE", "keys must be strings"),
        ("H = Observable(Z=0)\nreturn H.weights  # HERE", "has no attribute 'weights'"),
        ("a = Param('a')\nreturn a.value  # HERE", "has no attribute 'value'"),
        ("q = QubitRegister(2)\nreturn {'q': q[0]}  # HERE", "a qubit cannot be returned"),
        ("return {'x': 1, 'x': 2}  # HERE", "duplicate return key 'x'"),
        ("return eval('1')  # HERE", "'eval' is not allowed"),
        ("return [i for i in [1]]  # HERE", "comprehensions are not allowed"),
        ("return 1 if True else 2  # HERE", "conditional expressions"),
    ],
)
def test_what_a_return_may_not_hold_is_refused_with_its_line(body: str, message: str) -> None:
    source = program(body)
    error = rejected(source)
    assert message in str(error)
    assert error_line(error) == marked_line(source)


def test_returns_round_trip_as_tagged_json() -> None:
    template = ProgramReturns({"a": [1, ReturnRef("fun")], "ref": {"ref": "data"}, "n": None})
    assert ProgramReturns.from_json(template.to_json()) == template
    assert ProgramReturns.from_json(ProgramReturns("x").to_json()).key == "returned"


def test_the_hybrid_spec_keeps_the_flat_form_of_the_returns() -> None:
    prog = read_program(program(VQE + "return {'e': opt.fun, 'n': q.size, 't': theta}"))
    assert prog.hybrid is not None
    assert prog.hybrid.returns == {"e": "fun", "t": "param:theta"}


# -- the decorator ---------------------------------------------------------------------


def test_decorator_metadata_fills_the_settings_it_names() -> None:
    prog = read(
        "h(0)",
        decorator=(
            "@hybrid_program(shots=10, metadata={'shots': 20, 'seed': 4, 'optimization_level': 0, "
            "'noise_model': 'readout:0.01', 'max_iters': 5, 'optimizer': 'SPSA', 'extra': [1]})"
        ),
    )
    assert prog.decorator["shots"] == 10  # the keyword wins over its own metadata
    assert prog.decorator["seed"] == 4
    assert prog.decorator["optimization_level"] == 0
    assert prog.decorator["noise_model"] == "readout:0.01"
    assert prog.decorator["metadata"]["extra"] == [1]  # other keys are kept


def test_a_noise_model_dict_becomes_its_text() -> None:
    prog = read("h(0)", decorator="@hybrid_program(noise_model={'depolarizing': 0.001, 'readout': 0.02})")
    assert prog.decorator["noise_model"] == "depolarizing:0.001,readout:0.02"
    assert read("h(0)", decorator="@hybrid_program(noise_model='none')").decorator["noise_model"] == "none"


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ("@hybrid_program(noise_model='thermal:0.1')  # HERE", "unknown noise model 'thermal'"),
        ("@hybrid_program(noise_model='depolarizing:2')  # HERE", "must be a probability"),
        ("@hybrid_program(noise_model={'fog': 0.1})  # HERE", "unknown noise model 'fog'"),
        ("@hybrid_program(noise_model={'readout': 'a'})  # HERE", "must be a number"),
        ("@hybrid_program(metadata={'noise_model': 'mist:1'})  # HERE", "unknown noise model 'mist'"),
        ("@hybrid_program(metadata={'max_iters': 0})  # HERE", "between 1 and 100000"),
        ("@hybrid_program(metadata={'shots': -1})  # HERE", "non-negative integer"),
        ("@hybrid_program(metadata={'optimization_level': 5})  # HERE", "0, 1, 2 or 3"),
        ("@hybrid_program(metadata={'estimator': 'guess'})  # HERE", "exact, shots"),
        ("@hybrid_program(metadata={'optimizer': ''})  # HERE", "an optimiser name"),
        ("@hybrid_program(metadata={1: 2})  # HERE", "metadata must be a literal"),
        ("@hybrid_program(optimization_level=4)  # HERE", "0, 1, 2 or 3"),
        ("@hybrid_program(target=3)  # HERE", "target must be a string"),
    ],
)
def test_bad_decorator_settings_are_refused_by_name(decorator: str, message: str) -> None:
    source = program("h(0)", decorator)
    error = rejected(source)
    assert message in str(error)
    assert error_line(error) == marked_line(source)


# -- through the compiler --------------------------------------------------------------


def compile_request(source: str, level: int | None = None) -> CompileRequest:
    return CompileRequest(source, ProgramLanguage.EIGEN_LANG, DEVICE, optimization_level=level)


def test_the_compiler_carries_returns_and_emptiness() -> None:
    service = CompilationService()
    minimal = "from eigen_lang import hybrid_program\n\n@hybrid_program\ndef main():\n    return 'hi'\n"
    compiled = service.compile(compile_request(minimal))
    assert compiled.empty and compiled.returns == ProgramReturns("hi")
    validated = service.validate(compile_request(program("h(0)\nreturn {'n': 1}")))
    assert not validated.empty and validated.returns == ProgramReturns({"n": 1})


def test_the_decorator_level_is_used_when_the_request_names_none() -> None:
    service = CompilationService()
    source = program("h(0)\ncx(0, 1)", "@hybrid_program(optimization_level=3, compiler='qiskit', target='x')")
    compiled = service.compile(compile_request(source))
    assert compiled.report["optimization_level"] == 3
    assert compiled.report["decorator"] == {"optimization_level": 3, "compiler": "qiskit", "target": "x"}
    assert service.cached(compile_request(source)) is compiled
    assert service.compile(compile_request(source, level=0)).report["optimization_level"] == 0
    plain = service.compile(compile_request(program("h(0)")))
    assert plain.report["optimization_level"] == 1 and "decorator" not in plain.report


def test_an_unknown_noise_model_is_refused_when_the_program_is_checked() -> None:
    source = program("h(0)", "@hybrid_program(noise_model='static:0.1')")
    with pytest.raises(InvalidArgument) as caught:
        CompilationService().validate(compile_request(source))
    assert "unknown noise model 'static'" in caught.value.message
    assert [v.field for v in caught.value.violations] == ["program"]
