"""Gradients of an expectation value for gradient-based optimisers.

Parameter shift, exact for a parameter that appears once as the whole angle of a Pauli
rotation (rx, ry, rz, p, rxx, ryy, rzz, rzx): dE/dθ = (E(θ + π/2) - E(θ - π/2)) / 2.
Otherwise central finite differences (step ``FD_STEP``). All 2n shifted points of one
gradient are evaluated in a single batch of bindings.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SHIFT_GATES = frozenset({"rx", "ry", "rz", "p", "rxx", "ryy", "rzz", "rzx"})
FD_STEP = 1e-3


def shift_rule_applies(circuit: Any, names: list[str]) -> bool:
    uses: dict[str, int] = dict.fromkeys(names, 0)
    for instruction in circuit.data:
        for param in instruction.operation.params:
            symbols = getattr(param, "parameters", ())
            for symbol in symbols:
                if symbol.name not in uses:
                    continue
                bare = getattr(param, "name", None) == symbol.name  # the angle is exactly θ
                if instruction.operation.name not in SHIFT_GATES or not bare:
                    return False
                uses[symbol.name] += 1
    return all(count == 1 for count in uses.values())


def step(shift_rule: bool) -> float:
    return math.pi / 2 if shift_rule else FD_STEP


def shifted_points(x: np.ndarray, size: float) -> list[np.ndarray]:
    points = []
    for index in range(len(x)):
        for sign in (1.0, -1.0):
            point = x.copy()
            point[index] += sign * size
            points.append(point)
    return points


def combine(values: list[float], shift_rule: bool, size: float) -> np.ndarray:
    pairs = np.asarray(values).reshape(-1, 2)
    difference = pairs[:, 0] - pairs[:, 1]
    return difference / 2.0 if shift_rule else difference / (2.0 * size)
