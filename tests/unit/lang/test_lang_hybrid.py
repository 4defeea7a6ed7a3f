"""Observables, ExpectationValue, minimize and return: the HybridSpec eigen.lang fills."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lang_helpers import error_line, marked_line, program, read, rejected
from qiskit.quantum_info import SparsePauliOp, Statevector
from scipy.optimize import minimize

from eigen.lang import read_program
from eigen.models.compiled import HybridSpec

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
H2 = [
    ("II", -1.052373245772859),
    ("IZ", 0.39793742484318045),
    ("ZI", -0.39793742484318045),
    ("ZZ", -0.01128010425623538),
    ("XX", 0.18093119978423156),
]
H2_GROUND = -1.8572750302023795
EV = "e = ExpectationValue('e', Observable(Z=0))\n"


def spec(body: str) -> HybridSpec:
    prog = read(body)
    assert prog.hybrid is not None
    return prog.hybrid


def test_shorthand_observable_terms_in_qiskit_order() -> None:
    hybrid = spec(
        """
        h(0)
        cx(0, 1)
        e = ExpectationValue("e", observable=Observable(Z=0, X=1))
        """
    )
    assert hybrid.observables == {"e": [("IZ", 1.0), ("XI", 1.0)]}


def test_shorthand_list_is_one_product_term() -> None:
    hybrid = spec(
        """
        q = QubitRegister(3)
        zz = Observable(Z=[0, 1], Y=q[2], I=0)
        e = ExpectationValue("zz", zz)
        """
    )
    assert hybrid.observables["zz"] == [("IZZ", 1.0), ("YII", 1.0), ("III", 1.0)]


def test_weighted_observable_is_preserved_in_order() -> None:
    labels = ", ".join(f'"{label}": {coefficient!r}' for label, coefficient in H2)
    hybrid = spec(
        f"""
        ry(0, Param("a", 0.1))
        cx(0, 1)
        H = Observable({{{labels}}})
        K = Observable(terms={{"ZZ": -0.5, "XI": 2}})
        energy = ExpectationValue("energy", observable=H)
        other = ExpectationValue("other", observable=K)
        """
    )
    assert hybrid.observables == {"energy": H2, "other": [("ZZ", -0.5), ("XI", 2.0)]}
    assert hybrid.objective is None  # no minimize: the kernel just estimates
    assert hybrid.initial_params == {"a": 0.1}


def test_weighted_observable_label_must_match_the_width() -> None:
    source = program(
        """
        q = QubitRegister(2)
        H = Observable({
            "ZZ": 1.0,
            "ZZZ": 0.5,  # HERE
        })
        """
    )
    error = rejected(source)
    assert "'ZZZ' has 3 characters but the circuit has 2 qubits" in str(error)
    assert error_line(error) == marked_line(source)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Observable(Q=0)  # HERE", "'Q' is not a Pauli letter"),
        ("Observable({'ZA': 1.0})  # HERE", "must be a non-empty string of I, X, Y, Z"),
        ("Observable({'Z': 'big'})  # HERE", "must be a real number"),
        ("Observable({})  # HERE", "at least one term"),
        ("Observable()  # HERE", "Observable() needs terms"),
        ("Observable(Z=[0, 0])  # HERE", "lists a qubit twice"),
        ("q = QubitRegister(1)\nObservable(Z=3)  # HERE", "qubit 3 is out of range"),
        ("ExpectationValue('e', observable=1)  # HERE", "must be an Observable"),
        (
            EV + "ExpectationValue('e', Observable(X=0))  # HERE",
            "duplicate ExpectationValue label 'e'",
        ),
        ("minimize(Observable(Z=0))  # HERE", "needs an ExpectationValue"),
        (
            EV + "minimize(e)\nminimize(e)  # HERE",
            "only one minimize()",
        ),
        (
            EV + "minimize(e, max_iters=0)  # HERE",
            "max_iters must be at least 1",
        ),
        (
            EV + "minimize(e, opts=[1])  # HERE",
            "must be a number, a string or a boolean",
        ),
        (
            "a = Param('a')\n" + EV + "minimize(e, [1, 2])  # HERE",
            "initial_params has 2 values but the program declares 1 Params",
        ),
        (
            "a = Param('a')\n" + EV + "minimize(e, {'b': 1})  # HERE",
            "'b', which is not a declared Param",
        ),
        (
            EV + "o = minimize(e)\nreturn {'n': o.nfev}  # HERE",
            "has no attribute 'nfev'",
        ),
        (
            EV + "o = minimize(e)\nreturn {'o': o}  # HERE",
            "return values must be fields",
        ),
        (
            "h(0)\nmeasure_all()\nExpectationValue('e', Observable(Z=0))\nx(0)  # HERE",
            "measurements must come last",
        ),
    ],
)
def test_invalid_hybrid_parts(body: str, message: str) -> None:
    source = program(body)
    error = rejected(source)
    assert message in str(error)
    assert error_line(error) == marked_line(source)


def test_minimize_with_positional_method_and_options() -> None:
    hybrid = spec(
        """
        a = Param("a", 0.1)
        b = Param("b")
        ry(0, a)
        rz(0, b)
        e = ExpectationValue("energy", observable=Observable(Z=0))
        opt = minimize(e, [0.5, -0.25], "SLSQP", 60, tol=1e-6, adaptive=True, label="x")
        return {"energy": opt.fun, "parameters": opt.x, "e": e, "m": opt.method}
        """
    )
    assert hybrid.objective == "energy"
    assert hybrid.method == "SLSQP"
    assert hybrid.max_iters == 60
    assert hybrid.initial_params == {"a": 0.5, "b": -0.25}
    assert hybrid.options == {"tol": 1e-6, "adaptive": True, "label": "x"}
    assert hybrid.returns == {
        "energy": "fun",
        "parameters": "x",
        "e": "expectation:energy",
        "m": "method",
    }


@pytest.mark.parametrize(
    ("initial", "expected"),
    [
        ("", {"a": 0.1, "b": 0.0}),
        (", [a, b]", {"a": 0.1, "b": 0.0}),
        (", {'b': 2}", {"a": 0.1, "b": 2.0}),
        (", initial_params=(1, 2)", {"a": 1.0, "b": 2.0}),
        (", START", {"a": 3.0, "b": 4.0}),
    ],
)
def test_initial_params_forms(initial: str, expected: dict[str, float]) -> None:
    source = program(
        f"""
        a = Param("a", 0.1)
        b = Param("b")
        ry(0, a + b)
        e = ExpectationValue("e", observable=Observable(Z=0))
        opt = minimize(e{initial}, method="COBYLA", max_iters=60)
        """
    ).replace("\n\n\n@", "\nSTART = [3, 4.0]\n\n@")
    prog = read_program(source)
    assert prog.hybrid is not None
    assert prog.hybrid.initial_params == expected
    assert prog.hybrid.max_iters == 60


def test_hybrid_circuit_is_the_unmeasured_ansatz() -> None:
    prog = read(
        """
        a = Param("a", 0.2)
        ry(0, a)
        cx(0, 1)
        measure(0, 1, basis="X")
        e = ExpectationValue("e", observable=Observable(Z=[0, 1]))
        """
    )
    assert prog.circuit.num_clbits == 0
    assert [inst.operation.name for inst in prog.circuit.data] == ["ry", "cx"]


def test_plain_program_has_no_hybrid_spec() -> None:
    prog = read("H = Observable(Z=0)\nh(0)\nreturn {}")
    assert prog.hybrid is None


def test_module_level_observable_and_param() -> None:
    source = program(
        """
        ry(0, THETA)
        e = ExpectationValue("e", observable=H)
        """
    ).replace("\n\n\n@", "\nH = Observable({'X': 1.0})\nTHETA = Param('theta', 0.3)\n\n@")
    prog = read_program(source)
    assert prog.hybrid is not None
    assert prog.hybrid.observables == {"e": [("X", 1.0)]}
    assert prog.defaults == {"theta": 0.3}


def test_vqe_h2_example_reads_and_reaches_the_exact_ground_state() -> None:
    prog = read_program((EXAMPLES / "vqe-h2" / "program.eigen.py").read_text())
    hybrid = prog.hybrid
    assert hybrid is not None
    assert hybrid.observables == {"energy": H2}
    assert hybrid.objective == "energy"
    assert hybrid.method == "COBYLA"
    assert hybrid.max_iters == 200
    assert hybrid.returns == {"energy": "fun", "parameters": "x"}
    assert prog.circuit.num_qubits == 2
    assert prog.circuit.num_clbits == 0

    hamiltonian = SparsePauliOp.from_list(hybrid.observables["energy"])
    assert min(np.linalg.eigvalsh(hamiltonian.to_matrix())) == pytest.approx(H2_GROUND, abs=1e-9)
    parameters = list(prog.circuit.parameters)

    def energy(values: np.ndarray) -> float:
        bound = prog.circuit.assign_parameters(dict(zip(parameters, values, strict=True)))
        return float(Statevector(bound).expectation_value(hamiltonian).real)

    starts = np.random.default_rng(1).uniform(-np.pi, np.pi, (4, len(parameters)))
    best = min(minimize(energy, x0, method="BFGS", tol=1e-12).fun for x0 in starts)
    assert best == pytest.approx(H2_GROUND, abs=1e-6)
    # The configured optimiser from the configured start lands within chemical accuracy.
    x0 = [hybrid.initial_params[p.name] for p in parameters]
    result = minimize(energy, x0, method=hybrid.method, options={"maxiter": hybrid.max_iters})
    assert abs(result.fun - H2_GROUND) < 1.6e-3


def test_circuit_example_reads() -> None:
    prog = read_program((EXAMPLES / "eigen-lang-circuit" / "program.eigen.py").read_text())
    assert prog.hybrid is None
    assert prog.defaults == {"theta": pytest.approx(np.pi / 3)}
    bound = prog.circuit.assign_parameters(prog.defaults).remove_final_measurements(inplace=False)
    probabilities = Statevector(bound).probabilities_dict()
    assert probabilities == {"00": pytest.approx(0.75), "11": pytest.approx(0.25)}
