"""Parameter bindings: checking them against a circuit and applying them.

A binding maps parameter *names* to values. Every binding must name exactly the circuit's
free parameters: a missing or unknown name is an :class:`~eigen.errors.InvalidArgument`
that names the offending parameters and the binding's index.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

from eigen.errors import FieldViolation, InvalidArgument


def _quoted(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)


def check_binding(circuit: Any, binding: dict[str, float], index: int = 0) -> dict[Any, float]:
    """Return ``{Parameter: value}`` for ``binding``, or raise naming what does not match."""
    params = {p.name: p for p in circuit.parameters}
    missing = sorted(set(params) - set(binding))
    unknown = sorted(set(binding) - set(params))
    field_path = f"parameter_bindings[{index}]"
    problems: list[str] = []
    if missing:
        problems.append(f"missing value for parameter(s) {_quoted(missing)}")
    if unknown:
        known = _quoted(sorted(params)) or "none"
        problems.append(f"unknown parameter(s) {_quoted(unknown)} (circuit has {known})")
    bad = sorted(
        name
        for name, value in binding.items()
        if name in params
        and (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value))
    )
    if bad:
        problems.append(f"parameter(s) {_quoted(bad)} need a finite real value")
    if problems:
        description = "; ".join(problems)
        raise InvalidArgument(f"{field_path}: {description}", [FieldViolation(field_path, description)])
    return {params[name]: float(value) for name, value in binding.items()}


def require_bound(circuit: Any) -> None:
    """Raise if ``circuit`` has free parameters but no binding was given."""
    names = sorted(p.name for p in circuit.parameters)
    if names:
        raise InvalidArgument.for_field(
            "parameter_bindings",
            f"circuit has unbound parameter(s) {_quoted(names)}; give a value for each",
        )


def bind(circuit: Any, binding: dict[str, float], index: int = 0) -> Any:
    """A copy of ``circuit`` with ``binding`` applied (the circuit itself if nothing to bind)."""
    values = check_binding(circuit, binding, index)
    if not values:
        return circuit
    return circuit.assign_parameters(values, inplace=False)


def bind_all(circuit: Any, bindings: list[dict[str, float]]) -> list[Any]:
    """One bound circuit per binding; ``[circuit]`` when there are no bindings."""
    if not bindings:
        require_bound(circuit)
        return [circuit]
    return [bind(circuit, b, i) for i, b in enumerate(bindings)]


def sweep_table(circuit: Any, bindings: list[dict[str, float]]) -> dict[Any, list[float]]:
    """The bindings as one column of values per parameter (qiskit-aer ``parameter_binds``).

    Checks every binding first. Returns ``{}`` when the circuit has no parameters.
    """
    if not bindings:
        require_bound(circuit)
        return {}
    checked = [check_binding(circuit, b, i) for i, b in enumerate(bindings)]
    return {p: [values[p] for values in checked] for p in circuit.parameters}
