"""Noisy emulators of IBM devices: qiskit-ibm-runtime fake backends run on qiskit-aer.

:class:`FakeBackendEmulator` is parametrised by the name of a fake backend class in
``qiskit_ibm_runtime.fake_provider``; a new emulator is three lines::

    class LagosEmulator(FakeBackendEmulator):
        name = "emu:lagos"
        fake_backend = "FakeLagosV2"

(plus its entry point in the ``eigen.drivers`` group). ``qiskit_ibm_runtime`` is slow to
import, so it is imported, and the noise model built, on first use, not on construction.

Circuits must arrive compiled for the device (its basis gates and coupling map), as on
real hardware; anything else is an :class:`~eigen.errors.InvalidArgument`.

Calibration records use SI units. Qubits: ``qubit``, ``t1_s``, ``t2_s``, ``frequency_hz``,
``anharmonicity_hz``, ``readout_error``, ``prob_meas0_prep1``, ``prob_meas1_prep0``,
``readout_length_s`` (where the backend reports them). Gates: ``gate``, ``qubits``,
``error``, ``duration_s``.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from qiskit_aer import AerSimulator

from eigen.drivers.aer_driver import AerDriver
from eigen.drivers.base import invalid_circuit
from eigen.models.state_memory import StateMemory
from eigen.models.target import Calibration, DeviceInfo

FAKE_PROVIDER = "qiskit_ibm_runtime.fake_provider"

#: Target operations that are not gates a compiler should emit as basis gates.
NOT_BASIS = frozenset(
    {"if_else", "for_loop", "switch_case", "while_loop", "break_loop", "continue_loop", "delay"}
)

#: backend qubit property -> calibration key (``qubit_property()`` values are SI already).
QUBIT_FIELDS: dict[str, str] = {
    "T1": "t1_s",
    "T2": "t2_s",
    "frequency": "frequency_hz",
    "anharmonicity": "anharmonicity_hz",
    "readout_error": "readout_error",
    "prob_meas0_prep1": "prob_meas0_prep1",
    "prob_meas1_prep0": "prob_meas1_prep0",
    "readout_length": "readout_length_s",
}


@dataclass(frozen=True)
class _Loaded:
    backend: Any  # the qiskit-ibm-runtime fake backend (BackendV2)
    simulator: AerSimulator
    info: DeviceInfo
    accepted: frozenset[str]


class FakeBackendEmulator(AerDriver):
    """An aer simulator with the noise model, basis and coupling map of a fake backend."""

    #: Class name in ``qiskit_ibm_runtime.fake_provider``, e.g. ``"FakeManilaV2"``.
    fake_backend: ClassVar[str]

    def __init__(self) -> None:
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()

    def _load(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._lock:
            if self._loaded is None:
                provider = importlib.import_module(FAKE_PROVIDER)
                backend = getattr(provider, self.fake_backend)()
                simulator = AerSimulator.from_backend(backend)
                info = self._describe(backend)
                accepted = frozenset(backend.target.operation_names) | {"barrier"}
                self._loaded = _Loaded(backend, simulator, info, accepted)
            return self._loaded

    def _describe(self, backend: Any) -> DeviceInfo:
        target = backend.target
        basis = tuple(sorted(set(target.operation_names) - NOT_BASIS))
        edges = tuple(sorted((int(a), int(b)) for a, b in target.build_coupling_map().get_edges()))
        config = backend.configuration()
        return DeviceInfo(
            name=self.name,
            num_qubits=backend.num_qubits,
            basis_gates=basis,
            coupling_map=edges,
            max_shots=int(getattr(config, "max_shots", 0) or 100_000),
            max_circuits=int(backend.max_circuits or 10_000),
            simulator=True,
            noisy=True,
            calibration_id=calibration_id(backend),
            description=(
                f"Noisy emulator of IBM {backend.name} ({backend.num_qubits} qubits): "
                "qiskit-ibm-runtime fake backend on qiskit-aer"
            ),
            aliases=self.aliases,
            state_memory=StateMemory.DENSITY,  # aer picks its method for noise: count the larger
        )

    @property
    def info(self) -> DeviceInfo:
        return self._load().info

    def simulator(self) -> AerSimulator:
        return self._load().simulator

    def accepted_operations(self) -> frozenset[str]:
        return self._load().accepted

    def check_circuit(self, circuit: Any) -> None:
        """Reject gates outside the basis and two-qubit gates on uncoupled qubits."""
        super().check_circuit(circuit)
        target = self._load().backend.target
        qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
        for index, instruction in enumerate(circuit.data):
            name = instruction.operation.name
            if name == "barrier":
                continue
            qargs = tuple(qubit_index[q] for q in instruction.qubits)
            if not target.instruction_supported(name, qargs):
                raise invalid_circuit(
                    f"gate {name!r} on qubits {list(qargs)} (instruction {index}) is not "
                    f"supported by {self.name}; compile the circuit for this device first",
                )

    def calibration(self) -> Calibration:
        loaded = self._load()
        backend = loaded.backend
        props = backend.properties()
        qubits = [_qubit_record(backend, props, q) for q in range(backend.num_qubits)]
        gates: list[dict[str, Any]] = []
        target = backend.target
        for gate in sorted(set(target.operation_names) - NOT_BASIS):
            for qargs, inst_props in (target[gate] or {}).items():
                if qargs is None or inst_props is None:
                    continue
                gates.append(
                    {
                        "gate": gate,
                        "qubits": list(qargs),
                        "error": inst_props.error,
                        "duration_s": inst_props.duration,
                    }
                )
        taken = props.last_update_date.isoformat() if props is not None else ""
        return Calibration(
            device=self.name,
            calibration_id=loaded.info.calibration_id,
            taken_at=taken,
            qubits=qubits,
            gates=gates,
        )


def _qubit_record(backend: Any, props: Any, qubit: int) -> dict[str, Any]:
    record: dict[str, Any] = {"qubit": qubit}
    if props is not None:
        for prop, (value, _when) in props.qubit_property(qubit).items():
            if prop in QUBIT_FIELDS:
                record[QUBIT_FIELDS[prop]] = float(value)
        return record
    qp = backend.target.qubit_properties[qubit] if backend.target.qubit_properties else None
    if qp is not None:
        record.update({"t1_s": qp.t1, "t2_s": qp.t2, "frequency_hz": qp.frequency})
    return record


def calibration_id(backend: Any) -> str:
    """A stable id of the backend's calibration: hash of name, version and update date."""
    props = backend.properties()
    stamp = props.last_update_date.isoformat() if props is not None else ""
    key = f"{backend.name}|{getattr(backend, 'backend_version', '')}|{stamp}"
    return f"{backend.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class ManilaEmulator(FakeBackendEmulator):
    name: ClassVar[str] = "emu:manila"
    fake_backend: ClassVar[str] = "FakeManilaV2"
