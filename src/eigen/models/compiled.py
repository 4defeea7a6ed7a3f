"""What the compiler hands the kernel, and what the kernel asks a driver to run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eigen.models.program import ProgramLanguage
from eigen.models.target import DeviceInfo


@dataclass(frozen=True)
class CompileRequest:
    program: str
    language: ProgramLanguage
    device: DeviceInfo
    entrypoint: str = "main"
    optimization_level: int | None = None  # None: the compiler's default (1)
    seed: int | None = None
    # Hybrid estimation: also compile the circuit measured in each of these Pauli bases
    # (labels in Qiskit order, one letter X/Y/Z per logical qubit, rightmost = qubit 0).
    measurement_bases: tuple[str, ...] = ()


@dataclass
class HybridSpec:
    """The classical part of an Eigen-Lang hybrid program (filled by eigen.lang)."""

    observables: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    objective: str | None = None  # label of the ExpectationValue that minimize() optimises
    method: str = "COBYLA"
    max_iters: int = 100
    initial_params: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    returns: dict[str, str] = field(default_factory=dict)


@dataclass
class CompiledProgram:
    """A program compiled for one device.

    ``circuit`` is a qiskit ``QuantumCircuit`` (transpiled, possibly with free parameters);
    it crosses process boundaries as QPY. ``qasm3`` and ``aqo_json`` are the artifact forms.
    """

    circuit: Any
    device: str
    num_qubits: int
    num_clbits: int
    parameters: list[str]
    report: dict[str, Any]
    qasm3: str = ""  # artifact form of the compiled circuit (OpenQASM 3)
    aqo_json: str = ""  # canonical AQO JSON of the compiled circuit
    source_circuit: Any = None  # the logical circuit before transpiling
    defaults: dict[str, float] = field(default_factory=dict)  # Param defaults (Eigen-Lang)
    hybrid: HybridSpec | None = None
    decorator: dict[str, Any] = field(default_factory=dict)  # @hybrid_program(...) settings
    # basis label -> compiled circuit measuring every logical qubit i into clbit i in it
    basis_circuits: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EstimationRequest:
    """Exact expectation values: one list per binding, one value per observable."""

    device: str
    circuit: Any  # logical circuit without measurements
    observables: list[list[tuple[str, float]]]
    parameter_bindings: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ExecutionRequest:
    device: str
    circuit: Any  # qiskit QuantumCircuit, measured, on the device's basis
    shots: int
    seed: int | None = None
    parameter_bindings: list[dict[str, float]] = field(default_factory=list)
    noise_model: str | None = None  # a noise model by name (models/noise.py), None: the device's own
