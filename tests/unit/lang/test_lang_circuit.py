"""The circuit eigen.lang builds from an Eigen-Lang program."""

from __future__ import annotations

import math

import pytest
from lang_helpers import error_line, marked_line, program, read, rejected
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.quantum_info import Operator, Statevector

from eigen.lang import read_program


def ops(circuit: QuantumCircuit) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    return [
        (
            inst.operation.name,
            tuple(circuit.find_bit(q).index for q in inst.qubits),
            tuple(circuit.find_bit(c).index for c in inst.clbits),
        )
        for inst in circuit.data
    ]


def test_bell_with_param_equals_the_expected_qiskit_circuit() -> None:
    prog = read(
        """
        theta = Param("theta", 0.5)
        ry(0, theta)
        cx(0, 1)
        measure(0, 1)
        """
    )
    assert [p.name for p in prog.circuit.parameters] == ["theta"]
    assert prog.defaults == {"theta": 0.5}
    assert prog.hybrid is None
    assert prog.entrypoint == "main"

    expected = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(2, "c"))
    expected.ry(0.5, 0)
    expected.cx(0, 1)
    expected.measure([0, 1], [0, 1])
    assert prog.circuit.assign_parameters({"theta": 0.5}) == expected


def test_unmeasured_part_has_the_expected_operator() -> None:
    prog = read(
        """
        a = Param("a", 0.3)
        b = Param("b")
        h(0)
        rx(1, a * 2 - pi / 4)
        rz(2, theta=-b)
        cnot(0, 2)
        cz(1, 2)
        swap(0, 1)
        ccx(0, 1, 2)
        ccz(2, 0, 1)
        x(0)
        y(1)
        z(2)
        s(0)
        t(1)
        """
    )
    assert prog.defaults == {"a": 0.3}  # b has no default
    assert prog.parameters == ["a", "b"]
    bound = prog.circuit.assign_parameters({"a": 0.3, "b": 1.1})
    bound.remove_final_measurements()

    expected = QuantumCircuit(3)
    expected.h(0)
    expected.rx(0.3 * 2 - math.pi / 4, 1)
    expected.rz(-1.1, 2)
    expected.cx(0, 2)
    expected.cz(1, 2)
    expected.swap(0, 1)
    expected.ccx(0, 1, 2)
    expected.ccz(2, 0, 1)
    expected.x(0)
    expected.y(1)
    expected.z(2)
    expected.s(0)
    expected.t(1)
    assert Operator(bound).equiv(Operator(expected))


def test_no_measurement_gets_every_qubit_measured_with_one_bit_each() -> None:
    prog = read(
        """
        x(0)
        x(2)
        """
    )
    circuit = prog.circuit
    assert circuit.num_qubits == 3  # 1 + highest index
    assert circuit.num_clbits == 3
    measured = [o for o in ops(circuit) if o[0] == "measure"]
    assert measured == [("measure", (i,), (i,)) for i in range(3)]
    # Bit 0 is rightmost: x(0), x(2) reads "101".
    probabilities = Statevector(circuit.remove_final_measurements(inplace=False))
    assert probabilities.probabilities_dict() == {"101": 1.0}


def test_registers_index_and_size() -> None:
    prog = read(
        """
        a = QubitRegister(2)
        b = QubitRegister(3)
        c = ClassicalRegister(2)
        h(a[1])
        cx(a[1], b[0])
        x(b[a.size])
        x(b[-1])
        measure(a[1], b[0], c=[c[1], c[0]])
        """
    )
    assert prog.circuit.num_qubits == 5
    assert prog.circuit.num_clbits == 2
    assert ops(prog.circuit) == [
        ("h", (1,), ()),
        ("cx", (1, 2), ()),
        ("x", (4,), ()),
        ("x", (4,), ()),
        ("measure", (1,), (1,)),
        ("measure", (2,), (0,)),
    ]


def test_measure_bases_and_measure_all() -> None:
    prog = read(
        """
        q = QubitRegister(3)
        measure(0, basis="X")
        measure(1, basis="Y", c=[2])
        reset(2)
        measure_all()
        """
    )
    assert ops(prog.circuit) == [
        ("h", (0,), ()),
        ("measure", (0,), (0,)),
        ("sdg", (1,), ()),
        ("h", (1,), ()),
        ("measure", (1,), (2,)),
        ("reset", (2,), ()),
        ("measure", (0,), (0,)),
        ("measure", (1,), (1,)),
        ("measure", (2,), (2,)),
    ]


def test_module_constants_aliases_and_attribute_imports() -> None:
    source = (
        "import eigen_lang as el\n"
        "from eigen_lang import ry as RY, Param\n"
        "N = 2\n"
        "ANGLE = el.pi / 2\n\n"
        "@el.hybrid_program(shots=100, seed=3, optimization_level=2, metadata={'k': 'v'})\n"
        "def run():\n"
        "    RY(N - 1, ANGLE)\n"
        "    el.cx(1, 0)\n"
    )
    prog = read_program(source, entrypoint="run")
    assert prog.entrypoint == "run"
    assert prog.decorator == {
        "shots": 100,
        "seed": 3,
        "optimization_level": 2,
        "metadata": {"k": "v"},
    }
    assert ops(prog.circuit)[:2] == [("ry", (1,), ()), ("cx", (1, 0), ())]
    assert prog.circuit.data[0].operation.params == [pytest.approx(math.pi / 2)]


def test_param_keyword_default_and_unused_param() -> None:
    prog = read(
        """
        a = Param("a", default=0.25)
        b = Param(name="b", default=-1)
        ry(0, theta=a)
        """
    )
    assert prog.defaults == {"a": 0.25, "b": -1.0}
    assert [p.name for p in prog.circuit.parameters] == ["a"]
    assert prog.parameters == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("q = QubitRegister(2)\nx(2)  # HERE", "qubit 2 is out of range"),
        ("q = QubitRegister(2)\nx(q[2])  # HERE", "out of range"),
        ("x(0)\nmeasure(0, c=[3])  # HERE", "classical bit 3 is out of range"),
        ("c = ClassicalRegister(1)\nx(1)\nmeasure_all()  # HERE", "needs 2 classical bits"),
        ("cx(1, 1)  # HERE", "same qubit"),
        ("a = Param('a')\nb = Param('a')  # HERE", "duplicate Param name 'a'"),
        ("ry(0)  # HERE", "missing the argument 'theta'"),
        ("ry(0, 'half')  # HERE", "an angle must be a number"),
        ("h(-1)  # HERE", "qubit index -1"),
        ("h(0.5)  # HERE", "a qubit must be an integer index"),
        ("rz(0, 1 / 0)  # HERE", "division by zero"),
        ("measure(0, basis='W')  # HERE", "basis must be one of"),
        ("QubitRegister(0)  # HERE", "at least one"),
        ("a = h(0)  # HERE", "call it on its own line"),
        ("a = 1\na(0)  # HERE", "'a' is a number here, not a function"),
        ("print(1)  # HERE", "'print' is not an Eigen-Lang function"),
        ("ry(0, 2 ** 3)  # HERE", "only the operators"),
        ("x(unknown)  # HERE", "unknown name 'unknown'"),
    ],
)
def test_invalid_circuits_name_the_line(body: str, message: str) -> None:
    source = program(body)
    error = rejected(source)
    assert error_line(error) == marked_line(source)
    assert message in str(error)


def test_datasets_are_recorded_and_whole_registers_measure() -> None:
    prog = read(
        """
        data = load_dataset("qfs://datasets/iris.csv", format="csv")
        ref = DatasetRef("qfs://other")
        q = QubitRegister(2)
        h(q[0])
        measure(q)
        """
    )
    assert prog.datasets == [
        {"source": "qfs://datasets/iris.csv", "format": "csv"},
        {"source": "qfs://other", "format": None},
    ]
    assert ops(prog.circuit)[1:] == [("measure", (0,), (0,)), ("measure", (1,), (1,))]
