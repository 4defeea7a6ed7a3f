"""What a device offers: the target a program is compiled for and executed on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eigen.models.state_memory import StateMemory


class DeviceStatus(StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    MAINTENANCE = "MAINTENANCE"


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    num_qubits: int
    basis_gates: tuple[str, ...]
    coupling_map: tuple[tuple[int, int], ...] | None = None  # None: all-to-all
    max_shots: int = 1_000_000
    max_circuits: int = 10_000
    simulator: bool = True
    noisy: bool = False
    clifford_only: bool = False
    status: DeviceStatus = DeviceStatus.ONLINE
    calibration_id: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    #: what a run holds in the worker's memory (models/state_memory.py); NONE: not counted
    state_memory: StateMemory = StateMemory.NONE


@dataclass(frozen=True)
class Calibration:
    device: str
    calibration_id: str
    taken_at: str
    qubits: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
