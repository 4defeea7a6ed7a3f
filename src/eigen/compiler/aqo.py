"""AQO JSON ("abstract quantum object"): Eigen's circuit interchange format.

A flat, canonical JSON form of a circuit::

    {"format":"eigen.aqo/v1","instructions":[{"clbits":[],"op":"h","params":[],"qubits":[0]},
     ...],"num_clbits":2,"num_qubits":2,"parameters":["theta"]}

* canonical: ``sort_keys``, compact separators, UTF-8 (no ASCII escaping), no NaN;
  :func:`to_aqo` always writes this form, :func:`fingerprint` hashes it (sha256 hex).
* ``op``: a qiskit standard gate name (``qiskit.circuit.library.
  get_standard_gate_name_mapping()``: ``h``, ``cx``, ``rz``, ``u``, ``measure``,
  ``reset``, ``delay``, ...) or ``barrier``; ``qubits``/``clbits`` are flat indices.
* ``params``: numbers, or parameter-expression strings as qiskit prints them
  (``"theta"``, ``"1 + 2*theta"``, ``"sin(phi + theta)"``) over the names declared in
  ``parameters`` (sorted). ``delay`` adds ``"unit"``; a non-zero global phase is written
  as ``"global_phase"``. Registers are flattened (one quantum, one classical register).
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Sequence
from typing import Any

from qiskit.circuit import (
    Barrier,
    Delay,
    Instruction,
    Parameter,
    ParameterExpression,
    QuantumCircuit,
)
from qiskit.circuit.library import get_standard_gate_name_mapping

from eigen.compiler.expressions import parse_expression
from eigen.compiler.source import program_error
from eigen.errors import InvalidArgument, quote

AQO_FORMAT = "eigen.aqo/v1"
MAX_AQO_BITS = 65_536

_STANDARD: dict[str, Instruction] = get_standard_gate_name_mapping()
_SUPPORTED = frozenset(_STANDARD) | {"barrier"}

ParamValue = float | int | str


def canonical_json(document: Any) -> str:
    """The canonical text of a JSON-compatible value."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def fingerprint(text: str, *, canonical: bool = False) -> str:
    """sha256 hex of the canonical form of AQO (or any JSON) text.

    ``canonical=True`` skips re-encoding when ``text`` is known to be canonical already
    (e.g. the output of :func:`to_aqo`).
    """
    if not canonical:
        text = canonical_json(_load_json(text))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_aqo(circuit: QuantumCircuit) -> str:
    """Canonical AQO JSON of a circuit of standard gates, measure, reset, delay, barrier."""
    qubit_index = {bit: i for i, bit in enumerate(circuit.qubits)}
    clbit_index = {bit: i for i, bit in enumerate(circuit.clbits)}
    instructions: list[dict[str, Any]] = []
    for index, item in enumerate(circuit.data):
        operation = item.operation
        name = operation.name
        if name not in _SUPPORTED:
            raise program_error(f"instruction {index} ({quote(name)}) cannot be written as AQO")
        entry: dict[str, Any] = {
            "op": name,
            "qubits": [qubit_index[q] for q in item.qubits],
            "clbits": [clbit_index[c] for c in item.clbits],
            "params": [_param_out(p, index) for p in operation.params],
        }
        if name == "delay":
            entry["unit"] = operation.unit
        instructions.append(entry)
    document: dict[str, Any] = {
        "format": AQO_FORMAT,
        "num_qubits": circuit.num_qubits,
        "num_clbits": circuit.num_clbits,
        "parameters": sorted(p.name for p in circuit.parameters),
        "instructions": instructions,
    }
    phase = circuit.global_phase
    if isinstance(phase, ParameterExpression) or phase != 0:
        document["global_phase"] = _param_out(phase, -1)
    return canonical_json(document)


def from_aqo(text: str) -> QuantumCircuit:
    """Build the circuit an AQO document describes; errors name the instruction index."""
    document = _load_json(text)
    if not isinstance(document, dict):
        raise program_error("AQO document must be a JSON object")
    if document.get("format") != AQO_FORMAT:
        raise program_error(f"AQO 'format' must be {AQO_FORMAT!r}, got {quote(document.get('format'))}")
    num_qubits = _count(document, "num_qubits")
    num_clbits = _count(document, "num_clbits")
    names = document.get("parameters", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise program_error("AQO 'parameters' must be a list of parameter names")
    symbols = {name: Parameter(name) for name in names}
    raw = document.get("instructions")
    if not isinstance(raw, list):
        raise program_error("AQO 'instructions' must be a list")
    circuit = QuantumCircuit(num_qubits, num_clbits)
    if "global_phase" in document:
        circuit.global_phase = _param_in(document["global_phase"], symbols, "global_phase")
    for index, entry in enumerate(raw):
        operation, qubits, clbits = _instruction(entry, index, symbols, num_qubits, num_clbits)
        try:
            circuit.append(operation, qubits, clbits, copy=False)
        except Exception as exc:
            raise program_error(f"AQO instruction {index} ({quote(operation.name)}): {exc}") from None
    return circuit


def _instruction(
    entry: object,
    index: int,
    symbols: dict[str, Parameter],
    num_qubits: int,
    num_clbits: int,
) -> tuple[Instruction, list[int], list[int]]:
    where = f"AQO instruction {index}"
    if not isinstance(entry, dict):
        raise program_error(f"{where} must be a JSON object")
    name = entry.get("op")
    if not isinstance(name, str) or name not in _SUPPORTED:
        raise program_error(f"{where}: unknown op {quote(name)}")
    qubits = _indices(entry.get("qubits", []), num_qubits, f"{where} ({quote(name)}) qubits")
    clbits = _indices(entry.get("clbits", []), num_clbits, f"{where} ({quote(name)}) clbits")
    raw_params = entry.get("params", [])
    if not isinstance(raw_params, list):
        raise program_error(f"{where} ({quote(name)}): 'params' must be a list")
    params = [_param_in(p, symbols, f"{where} ({quote(name)})") for p in raw_params]
    if name == "barrier":
        return Barrier(len(qubits)), qubits, clbits
    template = _STANDARD[name]
    if len(params) != len(template.params):
        raise program_error(
            f"{where} ({quote(name)}): expects {len(template.params)} params, got {len(params)}"
        )
    if len(qubits) != template.num_qubits or len(clbits) != template.num_clbits:
        raise program_error(
            f"{where} ({quote(name)}): acts on {template.num_qubits} qubits and "
            f"{template.num_clbits} clbits, got {len(qubits)} and {len(clbits)}"
        )
    try:
        if name == "delay":
            operation: Instruction = Delay(params[0], unit=str(entry.get("unit", "dt")))
        else:
            operation = template.base_class(*params)
    except Exception as exc:
        raise program_error(f"{where} ({quote(name)}): {exc}") from None
    return operation, qubits, clbits


def _load_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError) as exc:
        raise program_error(f"AQO is not valid JSON: {exc}") from None


def _count(document: dict[str, Any], key: str) -> int:
    value = document.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AQO_BITS:
        raise program_error(f"AQO {quote(key)} must be an integer from 0 to {MAX_AQO_BITS}")
    return value


def _indices(value: object, size: int, where: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size for i in value
    ):
        raise program_error(f"{where} must be a list of indices below {size}")
    return value


def _param_out(value: object, index: int) -> ParamValue:
    if isinstance(value, ParameterExpression):
        if value.parameters:
            return str(value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise program_error(
                f"instruction {index}: complex parameter {value} cannot be written as AQO"
            ) from None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise program_error(f"instruction {index}: parameter {quote(value)} cannot be written as AQO")


def _param_in(value: object, symbols: dict[str, Parameter], where: str) -> float | int | ParameterExpression:
    if isinstance(value, bool):
        raise program_error(f"{where}: parameter must be a number or an expression, got {value}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise program_error(f"{where}: parameter must be finite, got {value}")
        return value
    if isinstance(value, str):
        try:
            return parse_expression(value, symbols)
        except InvalidArgument as exc:
            raise program_error(f"{where}: {exc.message}") from None
    raise program_error(f"{where}: parameter must be a number or an expression, got {quote(value)}")


__all__: Sequence[str] = ("AQO_FORMAT", "canonical_json", "fingerprint", "from_aqo", "to_aqo")
