"""The compile report: what compilation did to a circuit, as a JSON-ready dict.

Shape::

    {"device": "sim:statevector", "optimization_level": 1, "language": "qasm3",
     "duration_ms": 0.41, "parse_ms": 0.09, "transpile_ms": 0.25,
     "measurements_added": false, "aqo_fingerprint": "<sha256 hex>",
     "program_sha256": "<sha256 hex of the source text>",
     "layout": [0, 1],  # physical qubit of each logical qubit at the end (coupled devices)
     "parameters": ["theta", "phi"],  # free parameters in the program's declaration order
     "before": {"num_qubits": 2, "num_clbits": 2, "depth": 3, "size": 4,
                "gate_counts": {"h": 1, "cx": 1, "measure": 2}, "two_qubit_gates": 1},
     "after":  {...same keys, for the transpiled circuit...}}

``parameters`` is how a sweep's experiments are titled (``eigen-cli results``): a list, so its
order survives every edge (a Struct over the compiler's, JSON in ``compile_report_json``).
``validate`` reports carry ``before`` only. ``depth`` ignores barriers (qiskit's default),
``two_qubit_gates`` counts gates on two or more qubits (``num_nonlocal_gates``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from qiskit.circuit import ParameterExpression, QuantumCircuit


def circuit_stats(circuit: QuantumCircuit) -> dict[str, Any]:
    return {
        "num_qubits": circuit.num_qubits,
        "num_clbits": circuit.num_clbits,
        "depth": circuit.depth(),
        "size": circuit.size(),
        "gate_counts": dict(circuit.count_ops()),
        "two_qubit_gates": circuit.num_nonlocal_gates(),
    }


def final_layout(circuit: QuantumCircuit) -> list[int] | None:
    """Physical qubit holding each logical qubit at the end, or None without a layout."""
    layout = circuit.layout
    if layout is None:
        return None
    return [int(q) for q in layout.final_index_layout(filter_ancillas=True)]


def parameter_order(circuit: QuantumCircuit, declared: Iterable[str] = ()) -> list[str]:
    """The names of ``circuit``'s free parameters in the program's declaration order:
    ``declared`` first (an Eigen-Lang program's ``Param`` names, used or not), then any other
    in the order the circuit first uses it (an OpenQASM program's inputs: the importer keeps
    no declaration order; one expression's parameters by name)."""
    names = list(dict.fromkeys(declared))
    if not circuit.num_parameters:
        return names
    seen = set(names)
    for name in _first_uses(circuit):
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def _first_uses(circuit: QuantumCircuit) -> Iterator[str]:
    if isinstance(circuit.global_phase, ParameterExpression):
        yield from sorted(p.name for p in circuit.global_phase.parameters)
    for instruction in circuit.data:
        for param in instruction.operation.params:
            if isinstance(param, ParameterExpression):
                yield from sorted(p.name for p in param.parameters)
            elif isinstance(param, QuantumCircuit):  # a block of a control-flow operation
                yield from _first_uses(param)
    yield from sorted(p.name for p in circuit.parameters)  # any the walk missed


def compile_report(
    *,
    device: str,
    language: str,
    optimization_level: int | None,
    before: QuantumCircuit,
    after: QuantumCircuit | None,
    duration_ms: float,
    parse_ms: float,
    transpile_ms: float | None = None,
    measurements_added: bool = False,
    aqo_fingerprint: str | None = None,
    program_sha256: str | None = None,
    parameters: Iterable[str] = (),
) -> dict[str, Any]:
    """``parameters``: the program's parameter names in declaration order, where its
    language keeps one (see :func:`parameter_order`)."""
    report: dict[str, Any] = {
        "device": device,
        "language": language,
        "optimization_level": optimization_level,
        "duration_ms": round(duration_ms, 4),
        "parse_ms": round(parse_ms, 4),
        "measurements_added": measurements_added,
        "aqo_fingerprint": aqo_fingerprint,
        "program_sha256": program_sha256,
        "before": circuit_stats(before),
        "parameters": parameter_order(before, parameters),
    }
    if after is not None:
        report["after"] = circuit_stats(after)
        report["transpile_ms"] = None if transpile_ms is None else round(transpile_ms, 4)
        report["layout"] = final_layout(after)
    return report
