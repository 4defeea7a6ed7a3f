"""An Eigen-Lang program's ``return``, resolved into the job's result summary.

The compiler hands the kernel the returned value as a template
(:class:`~eigen.models.compiled.ProgramReturns`: JSON data with a
:class:`~eigen.models.compiled.ReturnRef` where a run-time value goes). Once the job has
run, each reference gets its value and the whole goes to ``summary["returns"]`` (a dict)
or ``summary["returned"]`` (any other value), with its JSON types (an int stays an int):

* ``fun``, ``x``, ``method``, ``objective``, ``metadata``: the fields of the
  ``minimize`` result (hybrid programs, :func:`optimum_lookup`);
* ``expectation:<label>``: that ``ExpectationValue`` at the optimum;
* ``param:<name>``: the ``Param``'s final value: the optimum of a hybrid program; for a
  plain program or a sweep, its value in the binding run (:func:`bound_lookup`: the
  binding's, else the ``Param``'s default, else null), a list with one value per binding
  when the job ran several.

A reference this kernel does not know resolves to null.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eigen.models.compiled import EXPECTATION_REF, PARAM_REF, RETURNS_KEY, CompiledProgram

Lookup = Callable[[str], Any]
METADATA_FIELDS = ("iterations", "evaluations", "max_iters", "converged", "message", "gradient")


def program_returns(compiled: CompiledProgram, lookup: Lookup) -> dict[str, Any]:
    """``{"returns": {...}}`` or ``{"returned": value}``, resolved; ``{}`` when the program
    returns nothing. A compiled program from a compiler that sends only the flat form
    (:attr:`~eigen.models.compiled.HybridSpec.returns`) gets its returns from that."""
    if compiled.returns is not None:
        return {compiled.returns.key: compiled.returns.resolve(lookup)}
    hybrid = compiled.hybrid
    if hybrid is not None and hybrid.returns:
        return {RETURNS_KEY: {key: lookup(path) for key, path in hybrid.returns.items()}}
    return {}


def optimum_lookup(summary: Mapping[str, Any], names: Sequence[str], defaults: Mapping[str, float]) -> Lookup:
    """References of a hybrid program, from its summary at the optimum; ``x`` lists the
    optimised values in ``names`` order (the ``Param`` declaration order)."""
    optimum: Mapping[str, float] = summary["optimal_parameters"]
    fields: dict[str, Any] = {
        "fun": summary["energy"],
        "x": [optimum[name] for name in names],
        "method": summary["method"],
        "objective": summary["objective"],
        "metadata": {key: summary.get(key) for key in METADATA_FIELDS},
    }

    def lookup(path: str) -> Any:
        if path.startswith(EXPECTATION_REF):
            return summary["expectation_values"].get(path.removeprefix(EXPECTATION_REF))
        if path.startswith(PARAM_REF):
            name = path.removeprefix(PARAM_REF)
            return optimum.get(name, defaults.get(name))
        return fields.get(path)

    return lookup


def bound_lookup(compiled: CompiledProgram, bindings: Sequence[Mapping[str, float]]) -> Lookup:
    """References of a plain program or a sweep: a ``Param`` is its bound value (see the
    module docstring); no other reference has a value without an optimiser."""
    runs = list(bindings) or [{}]

    def value(binding: Mapping[str, float], name: str) -> float | None:
        found = binding.get(name, compiled.defaults.get(name))
        return None if found is None else float(found)

    def lookup(path: str) -> Any:
        if not path.startswith(PARAM_REF):
            return None
        name = path.removeprefix(PARAM_REF)
        values = [value(binding, name) for binding in runs]
        return values[0] if len(values) == 1 else values

    return lookup


def circuit_summary(compiled: CompiledProgram, bindings: Sequence[Mapping[str, float]]) -> dict[str, Any]:
    """The summary of a plain program's job: its returns (``{}`` when it returns nothing)."""
    return program_returns(compiled, bound_lookup(compiled, bindings))
