"""Translate a (bound) qiskit circuit to a ``stim.Circuit``, instruction by instruction.

Clifford gates map to their stim names; ``rz``/``p``/``rx``/``ry``/``u`` whose angles are
multiples of pi/2 map to the equivalent Clifford gates (global phase is dropped, as stim
tracks none). Anything else raises :class:`~eigen.errors.InvalidArgument` naming the gate
and its position (the 0-based index in ``circuit.data``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import stim

from eigen.drivers.base import invalid_circuit
from eigen.errors import InvalidArgument

#: qiskit gate name -> stim gate name, for gates without parameters.
DIRECT: dict[str, str] = {
    "id": "I",
    "x": "X",
    "y": "Y",
    "z": "Z",
    "h": "H",
    "s": "S",
    "sdg": "S_DAG",
    "sx": "SQRT_X",
    "sxdg": "SQRT_X_DAG",
    "cx": "CX",
    "cy": "CY",
    "cz": "CZ",
    "swap": "SWAP",
    "iswap": "ISWAP",
    "dcx": "DCX",
    "reset": "R",
}

#: Rotation -> stim gate for angle k * pi/2, k = 0, 1, 2, 3 (up to global phase).
QUARTER_TURNS: dict[str, tuple[str, str, str, str]] = {
    "rz": ("I", "S", "Z", "S_DAG"),
    "p": ("I", "S", "Z", "S_DAG"),
    "rx": ("I", "SQRT_X", "X", "SQRT_X_DAG"),
    "ry": ("I", "SQRT_Y", "Y", "SQRT_Y_DAG"),
}

SKIPPED = frozenset({"barrier", "delay"})

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class StimProgram:
    """A stim circuit plus where each classical bit's value comes from."""

    circuit: stim.Circuit
    num_measurements: int
    #: For each clbit, the index of the last measurement written to it (-1: never written).
    clbit_records: tuple[int, ...]

    @property
    def identity_records(self) -> bool:
        """True when measurement ``k`` is exactly clbit ``k`` (no remapping needed)."""
        return self.num_measurements == len(self.clbit_records) and all(
            rec == k for k, rec in enumerate(self.clbit_records)
        )


def not_clifford(name: str, index: int, device: str, detail: str = "") -> InvalidArgument:
    return invalid_circuit(
        f"circuit is not Clifford: gate {name!r}{detail} (instruction {index}) cannot run on {device}",
    )


def quarter_turns(angle: Any) -> int | None:
    """``k mod 4`` if ``angle`` is ``k * pi/2`` for an integer k, else None."""
    try:
        turns = float(angle) / (math.pi / 2)
    except (TypeError, ValueError):
        return None
    nearest = round(turns)
    if abs(turns - nearest) > _TOLERANCE:
        return None
    return nearest % 4


def _rotation_names(name: str, params: list[Any]) -> list[str] | None:
    """Stim gates (time order) for a Clifford rotation, or None if the angle is not Clifford."""
    if name in QUARTER_TURNS:
        k = quarter_turns(params[0])
        return None if k is None else [QUARTER_TURNS[name][k]]
    # u(theta, phi, lam) = rz(phi) ry(theta) rz(lam), up to global phase
    ks = [quarter_turns(p) for p in params]
    if any(k is None for k in ks):
        return None
    theta, phi, lam = (k for k in ks if k is not None)
    return [QUARTER_TURNS["rz"][lam], QUARTER_TURNS["ry"][theta], QUARTER_TURNS["rz"][phi]]


def to_stim(circuit: Any, device: str) -> StimProgram:
    """Translate ``circuit`` (parameters bound) to stim; ``device`` names it in errors.

    The program is assembled as stim text and parsed once (much faster than one
    ``stim.Circuit.append`` call per gate).
    """
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    records = [-1] * len(clbit_index)
    lines: list[str] = []
    measured = 0
    for index, instruction in enumerate(circuit.data):
        name = instruction.name
        targets = " ".join(str(qubit_index[q]) for q in instruction.qubits)
        if name == "measure":
            lines.append(f"M {targets}")
            records[clbit_index[instruction.clbits[0]]] = measured
            measured += 1
        elif name in DIRECT:
            lines.append(f"{DIRECT[name]} {targets}")
        elif name in QUARTER_TURNS or name == "u":
            gates = _rotation_names(name, list(instruction.params))
            if gates is None:
                angles = ", ".join(_show(p) for p in instruction.params)
                raise not_clifford(name, index, device, f" with angle(s) {angles}")
            lines.extend(f"{gate} {targets}" for gate in gates if gate != "I")
        elif name not in SKIPPED:
            raise not_clifford(name, index, device)
    return StimProgram(stim.Circuit("\n".join(lines)), measured, tuple(records))


def _show(value: Any) -> str:
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return str(value)
