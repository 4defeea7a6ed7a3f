"""``Observable(...)``: Pauli observables, and their terms at the circuit's width.

Qubit order: every label Eigen stores is in **Qiskit order**, one character per qubit of
the circuit, the **rightmost character acting on qubit 0** (``"IZ"`` is Z on qubit 0,
``"ZI"`` is Z on qubit 1). The forms:

* shorthand ``Observable(Z=0, X=1)``: each keyword is a Pauli letter (I, X, Y, Z) and one
  term of weight 1.0; an int (or ``q[i]``) puts the letter on that qubit, a list (or a
  whole register) puts it on every listed qubit as one product term (``Z=[0, 1]`` is
  Z0 Z1, label ``"ZZ"``). On 2 qubits ``Observable(Z=0, X=1)`` is
  ``[("IZ", 1.0), ("XI", 1.0)]``.
* weighted Pauli sum ``Observable({"II": -1.05, "IZ": 0.39})`` or
  ``Observable(terms={...})``: labels in Qiskit order, exactly as wide as the circuit,
  real coefficients. Also accepted (additions): a list of ``(label, coefficient)`` pairs
  and a single label string (weight 1.0).

Terms keep the order they are written in; nothing is merged or simplified.
"""

from __future__ import annotations

import ast
import math

from eigen.errors import quote
from eigen.lang.diagnostics import fail
from eigen.lang.expressions import Evaluator
from eigen.lang.rules import MAX_QUBITS
from eigen.lang.signature import bind
from eigen.lang.values import ObservableValue, PauliTerm, describe

PAULI_LETTERS = "IXYZ"


def read_observable(call: ast.Call, ev: Evaluator) -> ObservableValue:
    """An ``Observable(...)`` call, in either form."""
    if call.args or any(keyword.arg == "terms" for keyword in call.keywords):
        bound = bind(call, "Observable", ("terms",), required=("terms",))
        terms = _weighted(bound.args["terms"], ev)
    elif call.keywords:
        terms = [_shorthand(keyword, ev) for keyword in call.keywords]
    else:
        fail(call, "Observable() needs terms, e.g. Observable(Z=0) or Observable({'Z': 1.0})")
    return ObservableValue(terms, call.lineno)


def _weighted(node: ast.expr, ev: Evaluator) -> list[PauliTerm]:
    value = ev.value(node)
    pairs: list[tuple[object, object]]
    if isinstance(value, str):
        pairs = [(value, 1.0)]
    elif isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list | tuple) and all(
        isinstance(item, list | tuple) and len(item) == 2 for item in value
    ):
        pairs = [(item[0], item[1]) for item in value]
    else:
        fail(
            node,
            "Observable terms must be a dict {'IZ': 0.5, ...}, a list of (label, coefficient) "
            f"pairs or a label, not {describe(value)}",
        )
    if not pairs:
        fail(node, "an Observable needs at least one term")
    lines = _key_lines(node)
    terms: list[PauliTerm] = []
    for label, coefficient in pairs:
        line = lines.get(label, node.lineno) if isinstance(label, str) else node.lineno
        if not isinstance(label, str) or not label or set(label) - set(PAULI_LETTERS):
            fail(line, f"Pauli label {quote(label)} must be a non-empty string of I, X, Y, Z")
        if len(label) > MAX_QUBITS:
            fail(line, f"Pauli labels are at most {MAX_QUBITS} characters long")
        terms.append(PauliTerm(_coefficient(line, label, coefficient), line, label=label))
    return terms


def _key_lines(node: ast.expr) -> dict[str, int]:
    """For a dict literal, the line of each string key (errors point at the term)."""
    if not isinstance(node, ast.Dict):
        return {}
    return {
        key.value: key.lineno
        for key in node.keys
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }


def _coefficient(line: int, label: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(line, f"the coefficient of {quote(label)} must be a real number, not {describe(value)}")
    if not math.isfinite(value):
        fail(line, f"the coefficient of {quote(label)} must be finite")
    return float(value)


def _shorthand(keyword: ast.keyword, ev: Evaluator) -> PauliTerm:
    letter = keyword.arg or ""
    if letter not in PAULI_LETTERS or len(letter) != 1:
        fail(keyword, f"Observable() keyword '{letter}' is not a Pauli letter (I, X, Y, Z)")
    qubits = ev.qubits(keyword.value)
    if not qubits:
        fail(keyword, f"Observable({letter}=...) needs at least one qubit")
    if len(set(qubits)) != len(qubits):
        fail(keyword, f"Observable({letter}=...) lists a qubit twice")
    return PauliTerm(1.0, keyword.lineno, paulis=tuple((q, letter) for q in qubits))


def required_width(observable: ObservableValue) -> int:
    """The fewest qubits the observable fits on."""
    widths = [
        len(term.label) if term.label is not None else 1 + max(q for q, _ in term.paulis)
        for term in observable.terms
    ]
    return max(widths, default=0)


def observable_terms(observable: ObservableValue, width: int) -> list[tuple[str, float]]:
    """The terms as (Qiskit-order label of ``width`` characters, coefficient)."""
    result: list[tuple[str, float]] = []
    for term in observable.terms:
        if term.label is not None:
            if len(term.label) != width:
                fail(
                    term.line,
                    f"Pauli label '{term.label}' has {len(term.label)} characters but the "
                    f"circuit has {width} qubits (Qiskit order: the rightmost character acts "
                    "on qubit 0)",
                )
            result.append((term.label, term.coefficient))
            continue
        letters = dict(term.paulis)
        for qubit in letters:
            if qubit >= width:
                fail(term.line, f"qubit {qubit} is out of range: the circuit has {width} qubits")
        label = "".join(letters.get(q, "I") for q in reversed(range(width)))
        result.append((label, term.coefficient))
    return result
