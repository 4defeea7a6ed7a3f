"""An Eigen backend description (GetBackend) as a qiskit ``Target``.

Basis gate names map to qiskit's standard gates (``get_standard_gate_name_mapping``,
whose parametrised gates carry ``Parameter`` placeholders). Without a coupling map the
device is all-to-all: every instruction is global (``properties=None``), so ``transpile``
neither lays out nor routes and keeps the circuit's width. With a coupling map, one-qubit
instructions are defined on every qubit and two-qubit gates on the listed (directed)
edges; gates on three or more qubits are left out, so the transpiler decomposes them.
Names qiskit does not know are left out too (logged): the transpiler never emits them.
"""

from __future__ import annotations

import logging

from qiskit.circuit import Instruction
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.transpiler import InstructionProperties, Target

from eigen.models.target import DeviceInfo

log = logging.getLogger(__name__)

Properties = dict[tuple[int, ...], InstructionProperties | None] | None


def build_target(device: DeviceInfo) -> Target:
    standard = get_standard_gate_name_mapping()
    target = Target(description=f"Eigen backend {device.name}", num_qubits=device.num_qubits)
    names = list(dict.fromkeys(device.basis_gates))
    if "measure" not in names:
        names.append("measure")  # every Eigen backend measures
    for name in names:
        instruction = standard.get(name)
        if instruction is None:
            log.info("basis gate %r of %s is not a qiskit standard gate; left out", name, device.name)
            continue
        if device.coupling_map and instruction.num_qubits > 2:
            log.info("%r does not fit the coupling map of %s; left out", name, device.name)
            continue
        target.add_instruction(instruction, _properties(instruction, device), name=name)
    return target


def _properties(instruction: Instruction, device: DeviceInfo) -> Properties:
    if not device.coupling_map:
        return None  # global: any qubits
    if instruction.num_qubits == 1:
        return {(qubit,): None for qubit in range(device.num_qubits)}
    return {(int(a), int(b)): None for a, b in device.coupling_map}
